package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"parley/client"
	"parley/model"
)

var (
	barStyle     = lipgloss.NewStyle().Reverse(true)
	errBarStyle  = lipgloss.NewStyle().Reverse(true).Bold(true)
	faintStyle   = lipgloss.NewStyle().Faint(true)
	boldStyle    = lipgloss.NewStyle().Bold(true)
	currentStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
)

// sidebarWidth is the width of the conversation list, 0 when the terminal
// is too narrow for one: the status bar names the conversation then.
func (m *chat) sidebarWidth() int {
	if m.width < 60 {
		return 0
	}
	return min(22, m.width/4)
}

func (m *chat) logWidth() int {
	sw := m.sidebarWidth()
	if sw == 0 {
		return max(1, m.width)
	}
	return max(1, m.width-sw-1)
}

// logHeight is the rows between the header and the status bar.
func (m *chat) logHeight() int { return max(1, m.height-3) }

func (m *chat) View() string {
	var b strings.Builder
	header := fmt.Sprintf(" Parley · %s at %s", m.me.Username, hostOf(m.c.BaseURL()))
	b.WriteString(barStyle.Render(pad(header, m.width)))
	b.WriteByte('\n')

	h, sw, lw := m.logHeight(), m.sidebarWidth(), m.logWidth()
	side := m.sidebar(h, sw)
	log := m.logView(h, lw)
	for i := range h {
		if sw > 0 {
			b.WriteString(side[i])
			b.WriteString(faintStyle.Render("│"))
		}
		b.WriteString(log[i])
		b.WriteByte('\n')
	}

	status := " " + m.currentTitle() + " · " + m.state
	style := barStyle
	if m.confirm != "" {
		status = " " + m.notice // the question alone, so that it fits
	} else if m.notice != "" {
		status += " · " + m.notice
		if m.isErr {
			style = errBarStyle
		}
	}
	b.WriteString(style.Render(pad(status, m.width)))
	b.WriteByte('\n')
	b.WriteString(ansi.Truncate(m.input.View(), m.width, ""))
	return b.String()
}

func (m *chat) currentTitle() string {
	if cv := m.convs[m.current]; cv != nil {
		return cv.title
	}
	return "no conversation"
}

// sidebar renders the conversation list, h lines of width w.
func (m *chat) sidebar(h, w int) []string {
	lines := make([]string, 0, h)
	add := func(s string, style lipgloss.Style) {
		if len(lines) < h {
			lines = append(lines, style.Render(pad(s, w)))
		}
	}
	var kind model.Kind
	for _, cv := range m.order() {
		if cv.info.Kind != kind {
			kind = cv.info.Kind
			if kind == model.KindChannel {
				add(" Channels", boldStyle)
			} else {
				add(" Direct", boldStyle)
			}
		}
		count := ""
		if cv.unread > 0 && cv.info.ID != m.current {
			count = fmt.Sprintf(" %d", cv.unread)
		}
		name := ansi.Truncate(cv.title, w-2-len(count), "…")
		line := " " + name + strings.Repeat(" ", max(0, w-1-ansi.StringWidth(name)-len(count))) + count
		if cv.info.ID == m.current {
			add(line, currentStyle)
		} else {
			add(line, lipgloss.NewStyle())
		}
	}
	if len(m.convs) == 0 {
		add(" (none yet)", faintStyle)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return lines
}

// logView renders the message log (or the info panel), h lines of width w,
// the newest at the bottom, scrolled up by m.scroll lines.
func (m *chat) logView(h, w int) []string {
	var all []string
	cv := m.convs[m.current]
	switch {
	case m.info != nil:
		for _, l := range m.info {
			all = append(all, wrap(l, w, "  ")...)
		}
	case cv == nil:
		all = wrap("No conversation open. /join general joins (or creates) a channel, /dm USER talks to someone, /help lists the commands.", w, "")
	default:
		all = m.logLines(cv, w)
	}
	maxScroll := max(0, len(all)-h)
	if m.scroll > maxScroll {
		m.scroll = maxScroll
	}
	end := len(all) - m.scroll
	start := max(0, end-h)
	out := make([]string, 0, h)
	for len(out) < h-(end-start) {
		out = append(out, "")
	}
	out = append(out, all[start:end]...)
	for i := range out {
		out[i] = pad(out[i], w)
	}
	return out
}

// logLines renders a conversation's messages, wrapped to w.
func (m *chat) logLines(cv *conv, w int) []string {
	var lines []string
	switch {
	case cv.loading:
		lines = append(lines, faintStyle.Render("loading…"))
	case !cv.loaded:
	case cv.hasOlder:
		lines = append(lines, faintStyle.Render("↑ PgUp for older messages"))
	case len(cv.msgs) == 0:
		lines = append(lines, faintStyle.Render("No messages yet. Say something!"))
	default:
		lines = append(lines, faintStyle.Render("(the beginning of "+cv.title+")"))
	}
	for _, msg := range cv.msgs {
		lines = append(lines, m.messageLines(msg, w)...)
	}
	return lines
}

func (m *chat) messageLines(msg client.Message, w int) []string {
	at := msg.CreatedAt.Local().Format("15:04")
	who := m.names.get(msg.SenderID)
	if msg.DeletedAt != nil {
		return wrap(faintStyle.Render(at+" "+who+": (message deleted)"), w, "  ")
	}
	text := faintStyle.Render(at) + " " + boldStyle.Render(who) + ": " + msg.Body
	if msg.EditedAt != nil {
		text += faintStyle.Render(" (edited)")
	}
	var lines []string
	for i, para := range strings.Split(text, "\n") {
		indent := "  "
		if i > 0 {
			para = "  " + para
		}
		lines = append(lines, wrap(para, w, indent)...)
	}
	return lines
}

// wrap breaks s into lines of at most w cells, indenting the
// continuation lines.
func wrap(s string, w int, indent string) []string {
	if ansi.StringWidth(s) <= w {
		return []string{s}
	}
	first, rest, _ := strings.Cut(ansi.Wrap(s, w, ""), "\n")
	lines := []string{first}
	if rest == "" {
		return lines
	}
	rest = strings.ReplaceAll(rest, "\n", " ")
	for _, l := range strings.Split(ansi.Wrap(rest, max(1, w-len(indent)), ""), "\n") {
		lines = append(lines, indent+l)
	}
	return lines
}

// pad fits s to exactly w cells.
func pad(s string, w int) string {
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[i+3:]
	}
	return u
}
