package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"parley/client"
	"parley/model"
)

// openChannel finds the channel called name and joins it if the user is
// not a member yet, since both posting and following need membership.
func openChannel(ctx context.Context, c *client.Client, name string) (client.Channel, error) {
	name = strings.TrimPrefix(name, "#")
	ch, err := c.ChannelByName(ctx, name)
	if err != nil {
		return ch, explain(err)
	}
	if !ch.IsMember {
		if _, err := c.JoinChannel(ctx, ch.ID); err != nil {
			return ch, explain(err)
		}
	}
	return ch, nil
}

// runSend posts TEXT, or each line of standard input, to a channel.
func runSend(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	channel := fs.String("channel", "", "the channel to post to (required)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley send --channel NAME [TEXT]\n\n"+
			"Posts TEXT to the channel, joining it if needed. Without TEXT, posts each\n"+
			"non-empty line of standard input as it is read, so a pipeline can feed it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if *channel == "" {
		return usageError{"send: --channel is required"}
	}
	c, err := loggedIn(getenv)
	if err != nil {
		return err
	}
	ch, err := openChannel(ctx, c, *channel)
	if err != nil {
		return err
	}
	post := func(text string) error {
		if _, err := c.PostMessage(ctx, ch.ID, client.MessageRequest{Body: text}); err != nil {
			return explain(err)
		}
		return nil
	}
	if fs.NArg() > 0 {
		return post(strings.Join(fs.Args(), " "))
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	sent := 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := post(line); err != nil {
			return err
		}
		sent++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read standard input: %w", err)
	}
	if sent == 0 {
		return usageError{"send: nothing to send (give TEXT, or lines on standard input)"}
	}
	return nil
}

// tailLine is one line of `parley tail --json`.
type tailLine struct {
	Type      model.EventType `json:"type"` // message.created, message.updated or message.deleted
	Channel   string          `json:"channel"`
	ID        model.MessageID `json:"id"`
	Seq       int64           `json:"seq"`
	Sender    string          `json:"sender"`
	Body      string          `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	EditedAt  *time.Time      `json:"edited_at"`
	DeletedAt *time.Time      `json:"deleted_at"`
}

// runTail prints a channel's messages as they arrive, with edits and
// deletions, until interrupted.
func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	channel := fs.String("channel", "", "the channel to follow (required)")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley tail --channel NAME [--json]\n\n"+
			"Prints the channel's messages as they arrive, and edits and deletions, marked,\n"+
			"until interrupted; joins the channel if needed. Reconnects by itself and loses\n"+
			"nothing meanwhile.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *channel == "" {
		return usageError{"tail: --channel is required"}
	}
	c, err := loggedIn(getenv)
	if err != nil {
		return err
	}
	ch, err := openChannel(ctx, c, *channel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	names := newNameCache(c)
	sub := c.Subscribe(ctx, nil)
	defer sub.Close()
	lost, following := false, false
	for u := range sub.Updates() {
		switch {
		case u.Type == client.Synced && !following:
			following = true
			fmt.Fprintf(stderr, "parley: following #%s; interrupt (Ctrl-C) to stop\n", ch.Name)
		case u.Type == client.Disconnected && !lost:
			lost = true
			fmt.Fprintf(stderr, "parley: connection lost (%v); reconnecting\n", explain(u.Err))
		case u.Type == client.Synced && lost:
			lost = false
			fmt.Fprintln(stderr, "parley: reconnected")
		case u.Type == client.Left && u.ConversationID == ch.ID:
			return fmt.Errorf("you are no longer a member of #%s", ch.Name)
		case u.Type == client.MessageChanged && u.ConversationID == ch.ID:
			m := u.Message
			sender := names.get(ctx, m.SenderID)
			if *asJSON {
				b, _ := json.Marshal(tailLine{Type: u.Change, Channel: ch.Name, ID: m.ID, Seq: m.Seq, Sender: sender,
					Body: m.Body, CreatedAt: m.CreatedAt, EditedAt: m.EditedAt, DeletedAt: m.DeletedAt})
				fmt.Fprintf(stdout, "%s\n", b)
				continue
			}
			fmt.Fprintln(stdout, formatLine(m, sender))
		}
	}
	if err := sub.Err(); err != nil {
		return explain(err)
	}
	return nil // interrupted: the usual way to stop following
}

// formatLine is how tail shows a message: time, sender and body, with
// edits and deletions marked.
func formatLine(m client.Message, sender string) string {
	at := m.CreatedAt.Local().Format("15:04")
	switch {
	case m.DeletedAt != nil:
		return fmt.Sprintf("[%s] %s: (message %d deleted)", at, sender, m.Seq)
	case m.EditedAt != nil:
		return fmt.Sprintf("[%s] %s (edited message %d): %s", at, sender, m.Seq, m.Body)
	}
	return fmt.Sprintf("[%s] %s: %s", at, sender, m.Body)
}

// nameCache remembers usernames by id.
type nameCache struct {
	c     *client.Client
	names map[model.UserID]string
}

func newNameCache(c *client.Client) *nameCache {
	return &nameCache{c: c, names: map[model.UserID]string{}}
}

// get returns the username of id, or "user N" when it cannot be fetched.
func (n *nameCache) get(ctx context.Context, id model.UserID) string {
	if s, ok := n.names[id]; ok {
		return s
	}
	u, err := n.c.User(ctx, id)
	if err != nil {
		return fmt.Sprintf("user %d", id)
	}
	n.names[id] = u.Username
	return u.Username
}
