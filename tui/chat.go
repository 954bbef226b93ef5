// Package tui is Parley's full-screen terminal client (parley chat), on
// Bubble Tea. It speaks to the server only through the client package: a
// Subscription keeps it in sync, so edits and deletions show live and a
// reconnect loses nothing. It imports client and model, never the server's
// packages.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"parley/client"
	"parley/model"
)

// historyPage is how many messages a conversation shows first, and how
// many more each scroll past the top loads.
const historyPage = 15

// Options configure Run.
type Options struct {
	Channel string    // a channel to open first; empty: the first one
	Input   io.Reader // the terminal; default standard input
	Output  io.Writer // the terminal; default standard output
}

// ErrLoggedOut is returned by Run when the login ended while chatting.
var ErrLoggedOut = client.ErrLoggedOut

// Run runs the chat until the user quits or ctx ends.
func Run(ctx context.Context, c *client.Client, me client.User, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := c.Subscribe(ctx, nil)
	defer sub.Close()
	m := newModel(ctx, c, me, sub, opts.Channel)
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	final, err := tea.NewProgram(m, popts...).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return err
	}
	if fm, ok := final.(*chat); ok && fm.fatal != nil {
		return fm.fatal
	}
	return nil
}

// conv is one conversation as the chat holds it.
type conv struct {
	info     client.Conversation
	title    string // "#name" or "@username"
	msgs     []client.Message
	loaded   bool // its latest page was fetched
	hasOlder bool
	loading  bool
	unread   int64
}

func (cv *conv) upsert(m client.Message) (isNew bool) {
	i, found := slices.BinarySearchFunc(cv.msgs, m.Seq, func(a client.Message, seq int64) int {
		return cmpInt(a.Seq, seq)
	})
	if found {
		cv.msgs[i] = m
		return false
	}
	cv.msgs = slices.Insert(cv.msgs, i, m)
	return true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chat is the Bubble Tea model of the chat.
type chat struct {
	ctx   context.Context
	c     *client.Client
	me    client.User
	sub   *client.Subscription
	names *names

	convs   map[model.ConversationID]*conv
	current model.ConversationID
	want    string // channel to open once known

	input  textinput.Model
	width  int
	height int
	scroll int // lines scrolled up from the bottom of the log

	state   string   // connection state, for the status bar
	notice  string   // one line for the status bar: what just happened or went wrong
	isErr   bool     // notice is an error
	info    []string // a panel shown instead of the log (/help, /channels) until Esc
	confirm string   // a channel name to create if the user answers y
	fatal   error
}

func newModel(ctx context.Context, c *client.Client, me client.User, sub *client.Subscription, want string) *chat {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message, or /help"
	in.CharLimit = model.MaxMessageLen
	in.Focus()
	return &chat{ctx: ctx, c: c, me: me, sub: sub, names: newNames(c, me),
		convs: map[model.ConversationID]*conv{}, want: strings.TrimPrefix(want, "#"),
		input: in, width: 80, height: 24, state: "connecting…"}
}

// Messages the model receives besides Bubble Tea's own.
type (
	updateMsg  struct{ u client.Update }
	subDoneMsg struct{ err error }
	historyMsg struct {
		id    model.ConversationID
		page  client.MessagePage
		older bool
		err   error
	}
	titleMsg struct {
		id    model.ConversationID
		title string
	}
	// resultMsg reports a command's outcome: a notice, and a conversation
	// to show when it opened one.
	resultMsg struct {
		notice string
		err    error
		open   *client.Conversation
		info   []string
		left   model.ConversationID
		ask    string // a channel that does not exist: offer to create it
	}
	sentMsg struct{ err error }
)

func (m *chat) Init() tea.Cmd {
	return tea.Batch(textinput.Blink, m.next())
}

// next waits for the subscription's next update. Sender names and
// direct-conversation titles are fetched here, off the UI loop.
func (m *chat) next() tea.Cmd {
	return func() tea.Msg {
		u, ok := <-m.sub.Updates()
		if !ok {
			return subDoneMsg{err: m.sub.Err()}
		}
		if u.Type == client.MessageChanged {
			m.names.resolve(m.ctx, u.Message.SenderID)
		}
		return updateMsg{u}
	}
}

func (m *chat) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.input.Width = max(10, m.width-4)
		return m, nil
	case tea.KeyMsg:
		return m.onKey(msg)
	case updateMsg:
		return m, tea.Batch(m.onUpdate(msg.u), m.next())
	case subDoneMsg:
		m.fatal = msg.err
		return m, tea.Quit
	case historyMsg:
		return m, m.onHistory(msg)
	case titleMsg:
		if cv := m.convs[msg.id]; cv != nil {
			cv.title = msg.title
		}
		return m, nil
	case resultMsg:
		return m, m.onResult(msg)
	case sentMsg:
		if msg.err != nil {
			m.setNotice(explain(msg.err), true)
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *chat) onKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.confirm != "" {
		name := m.confirm
		m.confirm = ""
		if k.String() == "y" || k.String() == "Y" {
			m.setNotice("creating #"+name+"…", false)
			return m, m.createChannel(name)
		}
		m.setNotice("#"+name+" was not created", false)
		return m, nil
	}
	switch k.Type {
	case tea.KeyCtrlC, tea.KeyCtrlD:
		return m, tea.Quit
	case tea.KeyEsc:
		m.info, m.notice = nil, ""
		return m, nil
	case tea.KeyTab, tea.KeyCtrlN:
		m.cycle(1)
		return m, m.ensureLoaded()
	case tea.KeyShiftTab, tea.KeyCtrlP:
		m.cycle(-1)
		return m, m.ensureLoaded()
	case tea.KeyPgUp:
		m.scroll += max(1, m.logHeight()-2)
		return m, m.maybeLoadOlder()
	case tea.KeyPgDown:
		m.scroll = max(0, m.scroll-max(1, m.logHeight()-2))
		return m, nil
	case tea.KeyEnter:
		line := m.input.Value()
		m.input.SetValue("")
		return m, m.submit(line)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return m, cmd
}

func (m *chat) setNotice(s string, isErr bool) {
	m.notice, m.isErr = s, isErr
}

// order lists the conversations as the sidebar shows them: channels by
// name, then direct conversations by title.
func (m *chat) order() []*conv {
	all := make([]*conv, 0, len(m.convs))
	for _, cv := range m.convs {
		all = append(all, cv)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.info.Kind != b.info.Kind {
			return a.info.Kind == model.KindChannel
		}
		if a.title != b.title {
			return strings.ToLower(a.title) < strings.ToLower(b.title)
		}
		return a.info.ID < b.info.ID
	})
	return all
}

func (m *chat) cycle(step int) {
	order := m.order()
	if len(order) == 0 {
		return
	}
	i := slices.IndexFunc(order, func(cv *conv) bool { return cv.info.ID == m.current })
	i = (i + step + len(order)) % len(order)
	m.show(order[i].info.ID)
}

// show makes id the current conversation. What the status bar said was
// about the one before, so it goes.
func (m *chat) show(id model.ConversationID) {
	m.current, m.scroll, m.info, m.notice = id, 0, nil, ""
	if cv := m.convs[id]; cv != nil {
		cv.unread = 0
	}
}

// ensureLoaded fetches the current conversation's latest page if it has
// not been, and moves the read marker.
func (m *chat) ensureLoaded() tea.Cmd {
	cv := m.convs[m.current]
	if cv == nil {
		return nil
	}
	if !cv.loaded && !cv.loading {
		cv.loading = true
		return m.loadHistory(cv.info.ID, client.HistoryQuery{Limit: historyPage}, false)
	}
	return m.markRead(cv)
}

func (m *chat) loadHistory(id model.ConversationID, q client.HistoryQuery, older bool) tea.Cmd {
	return func() tea.Msg {
		p, err := m.c.History(m.ctx, id, q)
		for _, msg := range p.Items {
			m.names.resolve(m.ctx, msg.SenderID)
		}
		return historyMsg{id: id, page: p, older: older, err: err}
	}
}

func (m *chat) maybeLoadOlder() tea.Cmd {
	cv := m.convs[m.current]
	if cv == nil || !cv.hasOlder || cv.loading || len(cv.msgs) == 0 {
		return nil
	}
	if m.scroll < len(m.logLines(cv, m.logWidth()))-m.logHeight() {
		return nil // not at the top yet
	}
	cv.loading = true
	return m.loadHistory(cv.info.ID, client.HistoryQuery{Limit: historyPage, Before: cv.msgs[0].Seq}, true)
}

func (m *chat) onHistory(h historyMsg) tea.Cmd {
	cv := m.convs[h.id]
	if cv == nil {
		return nil
	}
	cv.loading = false
	if h.err != nil {
		m.setNotice("loading messages: "+explain(h.err), true)
		return nil
	}
	if h.older || !cv.loaded {
		cv.hasOlder = h.page.HasMore
	}
	before := len(m.logLines(cv, m.logWidth()))
	cv.loaded = true
	for _, msg := range h.page.Items {
		cv.upsert(msg)
	}
	if h.older && h.id == m.current {
		// Keep what the reader looks at in place; the older messages are
		// above it, a PgUp away.
		m.scroll = min(m.scroll, max(0, before-m.logHeight())) + len(m.logLines(cv, m.logWidth())) - before
	}
	if h.id == m.current {
		return m.markRead(cv)
	}
	return nil
}

// markRead moves the read marker to the newest message shown.
func (m *chat) markRead(cv *conv) tea.Cmd {
	cv.unread = 0
	if len(cv.msgs) == 0 {
		return nil
	}
	seq := cv.msgs[len(cv.msgs)-1].Seq
	if seq <= cv.info.ReadSeq {
		return nil
	}
	cv.info.ReadSeq = seq
	id := cv.info.ID
	return func() tea.Msg {
		_ = m.c.MarkRead(m.ctx, id, seq) // best effort: a failure only leaves it unread
		return nil
	}
}

func (m *chat) onUpdate(u client.Update) tea.Cmd {
	switch u.Type {
	case client.Synced:
		m.state = "connected"
	case client.Disconnected:
		m.state = "reconnecting (" + explain(u.Err) + ")"
	case client.Joined:
		if cv := m.convs[u.Conversation.ID]; cv != nil && (cv.loaded || cv.loading) {
			// Shown already, from the answer to /join: its history may have
			// been read before the subscription's cursor, so read it again.
			// Whatever both hold merges by seq.
			cv.info = u.Conversation
			return m.loadHistory(cv.info.ID, client.HistoryQuery{Limit: historyPage}, false)
		}
		return m.adopt(u.Conversation)
	case client.Left:
		m.forget(u.ConversationID)
	case client.ReadMoved:
		if cv := m.convs[u.ConversationID]; cv != nil {
			cv.info.ReadSeq = max(cv.info.ReadSeq, u.Seq)
			if u.Seq >= cv.info.LastSeq {
				cv.unread = 0
			}
		}
	case client.MessageChanged:
		cv := m.convs[u.ConversationID]
		if cv == nil {
			return nil
		}
		if !cv.loaded && u.ConversationID != m.current {
			// Not shown yet: its history is fetched when it is opened.
			if u.Change == model.EventMessageCreated && u.Message.SenderID != m.me.ID {
				cv.unread++
			}
			cv.info.LastSeq = max(cv.info.LastSeq, u.Message.Seq)
			return nil
		}
		isNew := cv.upsert(u.Message)
		cv.info.LastSeq = max(cv.info.LastSeq, u.Message.Seq)
		if u.ConversationID == m.current {
			return m.markRead(cv)
		}
		if isNew && u.Message.SenderID != m.me.ID && u.Message.DeletedAt == nil {
			cv.unread++
		}
	}
	return nil
}

// adopt adds a conversation the subscription reported.
func (m *chat) adopt(info client.Conversation) tea.Cmd {
	if cv := m.convs[info.ID]; cv != nil {
		cv.info = info
		return nil
	}
	cv := &conv{info: info, unread: info.UnreadCount, hasOlder: true}
	var cmds []tea.Cmd
	if info.Kind == model.KindChannel {
		cv.title = "#" + info.Title()
	} else {
		cv.title = "@…"
		cmds = append(cmds, m.directTitle(info.ID))
	}
	m.convs[info.ID] = cv
	if m.current == 0 && (m.want == "" || strings.EqualFold(m.want, info.Title())) {
		m.show(info.ID)
		cmds = append(cmds, m.ensureLoaded())
	}
	return tea.Batch(cmds...)
}

func (m *chat) forget(id model.ConversationID) {
	cv := m.convs[id]
	if cv == nil {
		return
	}
	delete(m.convs, id)
	if m.current == id {
		m.current = 0
		if order := m.order(); len(order) > 0 {
			m.show(order[0].info.ID)
		}
	}
}

// directTitle finds the other member of a direct conversation.
func (m *chat) directTitle(id model.ConversationID) tea.Cmd {
	return func() tea.Msg {
		members, err := m.c.Members(m.ctx, id)
		if err != nil {
			return nil
		}
		for _, u := range members {
			if u.ID != m.me.ID {
				return titleMsg{id: id, title: "@" + u.Username}
			}
		}
		return titleMsg{id: id, title: "@" + m.me.Username}
	}
}

func (m *chat) onResult(r resultMsg) tea.Cmd {
	if r.err != nil {
		m.setNotice(explain(r.err), true)
		return nil
	}
	if r.ask != "" {
		m.confirm = r.ask
		m.setNotice(fmt.Sprintf("#%s does not exist; create it? (y/n)", r.ask), false)
		return nil
	}
	var cmds []tea.Cmd
	if r.left != 0 {
		m.forget(r.left)
	}
	if r.open != nil {
		cmds = append(cmds, m.adopt(*r.open))
		m.show(r.open.ID)
		cmds = append(cmds, m.ensureLoaded())
	}
	m.setNotice(r.notice, false)
	if r.info != nil {
		m.info = r.info
	}
	return tea.Batch(cmds...)
}

// names resolves user ids to usernames, shared by the UI loop and the
// commands running beside it.
type names struct {
	c  *client.Client
	mu sync.Mutex
	m  map[model.UserID]string
}

func newNames(c *client.Client, me client.User) *names {
	return &names{c: c, m: map[model.UserID]string{me.ID: me.Username}}
}

// resolve fetches id's username unless it is known.
func (n *names) resolve(ctx context.Context, id model.UserID) {
	n.mu.Lock()
	_, ok := n.m[id]
	n.mu.Unlock()
	if ok {
		return
	}
	u, err := n.c.User(ctx, id)
	if err != nil {
		return
	}
	n.mu.Lock()
	n.m[id] = u.Username
	n.mu.Unlock()
}

func (n *names) get(id model.UserID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.m[id]; ok {
		return s
	}
	return fmt.Sprintf("user %d", id)
}

// explain turns an error into the words the status bar shows.
func explain(err error) string {
	var apiErr *client.Error
	switch {
	case errors.Is(err, client.ErrLoggedOut):
		return "your login has ended; quit and run parley login"
	case errors.As(err, &apiErr):
		return strings.TrimSuffix(apiErr.Message, ".")
	case err == nil:
		return ""
	}
	return err.Error()
}
