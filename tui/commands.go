package tui

import (
	"errors"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"parley/client"
	"parley/model"
)

// help is what /help shows.
var help = []string{
	"Commands:",
	"  /join NAME        join a channel, or create it",
	"  /leave            leave this channel",
	"  /channels [TEXT]  list the channels (matching TEXT)",
	"  /dm USER          talk with USER alone",
	"  /send TEXT        send TEXT; plain text sends too",
	"  /help             this help",
	"  /quit             leave; Ctrl-C too",
	"Keys:",
	"  Tab, Shift-Tab    next, previous conversation",
	"  PgUp, PgDn        scroll; older messages load at the top",
	"  Esc               close this panel",
}

// submit runs what the user typed on the input line.
func (m *chat) submit(line string) tea.Cmd {
	text := strings.TrimSpace(line)
	if text == "" {
		return nil
	}
	m.notice, m.isErr = "", false
	if !strings.HasPrefix(text, "/") {
		return m.send(line)
	}
	name, arg, _ := strings.Cut(text[1:], " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(name) {
	case "quit", "exit", "q":
		return tea.Quit
	case "help", "h", "?":
		m.info = help
		return nil
	case "send":
		if arg == "" {
			m.setNotice("/send needs the text to send", true)
			return nil
		}
		return m.send(strings.TrimPrefix(strings.TrimSpace(line), "/send "))
	case "join", "j":
		if arg == "" {
			m.setNotice("/join needs a channel name: /join general", true)
			return nil
		}
		return m.join(strings.TrimPrefix(arg, "#"))
	case "leave":
		return m.leave()
	case "channels", "list":
		return m.listChannels(arg)
	case "dm", "msg":
		if arg == "" {
			m.setNotice("/dm needs a username: /dm alice", true)
			return nil
		}
		return m.direct(strings.TrimPrefix(arg, "@"))
	}
	m.setNotice(fmt.Sprintf("unknown command /%s; /help lists the commands", name), true)
	return nil
}

func (m *chat) send(body string) tea.Cmd {
	cv := m.convs[m.current]
	if cv == nil {
		m.setNotice("no conversation open: /join a channel first", true)
		return nil
	}
	if err := model.ValidateBody(body); err != nil {
		var e *model.Error
		if errors.As(err, &e) {
			err = errors.New(strings.TrimPrefix(e.Message, "body: "))
		}
		m.setNotice("not sent: "+err.Error(), true)
		return nil
	}
	id := cv.info.ID
	m.scroll = 0
	return func() tea.Msg {
		// The message shows when the subscription brings it, like anyone
		// else's, so it is never shown twice.
		_, err := m.c.PostMessage(m.ctx, id, client.MessageRequest{Body: body})
		return sentMsg{err: err}
	}
}

func (m *chat) join(name string) tea.Cmd {
	m.setNotice("joining #"+name+"…", false)
	return func() tea.Msg {
		ch, err := m.c.ChannelByName(m.ctx, name)
		if client.Code(err) == model.ENotFound {
			return resultMsg{ask: name}
		}
		if err != nil {
			return resultMsg{err: err}
		}
		conv, err := m.c.JoinChannel(m.ctx, ch.ID)
		if err != nil {
			return resultMsg{err: err}
		}
		return resultMsg{notice: "joined #" + ch.Name, open: &conv}
	}
}

func (m *chat) createChannel(name string) tea.Cmd {
	return func() tea.Msg {
		conv, err := m.c.CreateChannel(m.ctx, client.ChannelRequest{Name: name})
		if err != nil {
			return resultMsg{err: err}
		}
		return resultMsg{notice: "created #" + conv.Title(), open: &conv}
	}
}

func (m *chat) leave() tea.Cmd {
	cv := m.convs[m.current]
	switch {
	case cv == nil:
		m.setNotice("no conversation open", true)
		return nil
	case cv.info.Kind != model.KindChannel:
		m.setNotice("a direct conversation cannot be left", true)
		return nil
	}
	id, title := cv.info.ID, cv.title
	return func() tea.Msg {
		if err := m.c.LeaveChannel(m.ctx, id); err != nil {
			return resultMsg{err: err}
		}
		return resultMsg{notice: "left " + title, left: id}
	}
}

func (m *chat) listChannels(q string) tea.Cmd {
	return func() tea.Msg {
		p, err := m.c.Channels(m.ctx, client.PageQuery{Q: q, Limit: model.MaxPageLimit})
		if err != nil {
			return resultMsg{err: err}
		}
		lines := []string{"Channels" + map[bool]string{true: " matching \"" + q + "\"", false: ""}[q != ""] + ":"}
		for _, ch := range p.Items {
			mark := " "
			if ch.IsMember {
				mark = "*"
			}
			line := fmt.Sprintf(" %s #%-20s %3d members", mark, ch.Name, ch.MemberCount)
			if ch.Topic != "" {
				line += "  " + ch.Topic
			}
			lines = append(lines, line)
		}
		switch {
		case len(p.Items) == 0:
			lines = append(lines, "  none; /join NAME creates one")
		case p.HasMore:
			lines = append(lines, "  … and more: narrow it with /channels TEXT")
		}
		lines = append(lines, "* you are a member. /join NAME joins; Esc closes this list.")
		return resultMsg{info: lines}
	}
}

func (m *chat) direct(username string) tea.Cmd {
	return func() tea.Msg {
		p, err := m.c.Users(m.ctx, client.PageQuery{Q: username, Limit: model.MaxPageLimit})
		if err != nil {
			return resultMsg{err: err}
		}
		for _, u := range p.Items {
			if strings.EqualFold(u.Username, username) {
				conv, err := m.c.OpenDirect(m.ctx, u.ID)
				if err != nil {
					return resultMsg{err: err}
				}
				return resultMsg{notice: "talking with @" + u.Username, open: &conv}
			}
		}
		return resultMsg{err: fmt.Errorf("there is no user %q", username)}
	}
}
