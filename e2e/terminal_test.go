package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"parley/client"
	"parley/internal/dbtest"
	"parley/model"
)

// terminal is a real terminal: a tmux session on a private server, driven
// with send-keys and read with capture-pane, as a person would type and
// look.
type terminal struct {
	t    *testing.T
	tmux string
	sock string
}

// newTerminal starts a shell in a w×h terminal with env.
func newTerminal(t *testing.T, w, h int, env []string) *terminal {
	t.Helper()
	bin, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatalf("tmux: %v (scripts/with-test-services.sh installs it)", err)
	}
	dir, err := os.MkdirTemp("", "tm") // a socket path must stay short
	if err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, tmux: bin, sock: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		_ = exec.Command(bin, "-S", tm.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	cmd := exec.Command(bin, "-S", tm.sock, "-f", "/dev/null", "new-session", "-d", "-s", "t",
		"-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "env", "PS1=$ ", "sh")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	tm.waitFor("the shell's prompt", func(s string) bool { return strings.Contains(s, "$") })
	return tm
}

func (tm *terminal) run(args ...string) {
	tm.t.Helper()
	if out, err := exec.Command(tm.tmux, append([]string{"-S", tm.sock}, args...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
}

// typeLine types text, literally, and Enter.
func (tm *terminal) typeLine(text string) {
	tm.t.Helper()
	tm.run("send-keys", "-t", "t", "-l", text)
	tm.run("send-keys", "-t", "t", "Enter")
}

// key presses one key, by tmux's name for it (y, Escape, PPage…).
func (tm *terminal) key(k string) {
	tm.t.Helper()
	tm.run("send-keys", "-t", "t", k)
}

// screen is what the terminal shows now, one string per row.
func (tm *terminal) screen() string {
	tm.t.Helper()
	out, err := exec.Command(tm.tmux, "-S", tm.sock, "capture-pane", "-p", "-t", "t").Output()
	if err != nil {
		tm.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// waitFor waits until the screen satisfies cond and returns it; after 30
// seconds it fails the test, showing the screen.
func (tm *terminal) waitFor(what string, cond func(screen string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := tm.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s: not on the screen within 30s; it shows:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *terminal) waitText(text string) string {
	tm.t.Helper()
	return tm.waitFor(fmt.Sprintf("%q", text), func(s string) bool { return strings.Contains(s, text) })
}

// rows splits a screen into its rows.
func rows(screen string) []string {
	return strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
}

// TestChat_Terminal drives `parley chat` in an 80×24 terminal through
// what a person does: log in, join a channel, send, see another user's
// message arrive and then its edit, and quit. The last screen is kept as
// an artifact (go test -artifacts).
func TestChat_Terminal(t *testing.T) {
	dsn := dbtest.DSN(t)
	srv := startParley(t, "parley", serverConfig{DSN: dsn})
	suffix := randomHex(3)
	alice, channel := "alice_"+suffix, "lobby-"+suffix
	bob := newClient(t, srv.URL, "bob_"+suffix)
	ctx := context.Background()
	ch, err := bob.CreateChannel(ctx, client.ChannelRequest{Name: channel, Topic: "the terminal test"})
	if err != nil {
		t.Fatal(err)
	}
	home := newCLIHome(t)
	tm := newTerminal(t, 80, 24, home.env)

	// Log in, with the password typed without echo.
	tm.typeLine(fmt.Sprintf("%s login --server %s --username %s --register", parleyBin, srv.URL, alice))
	tm.waitText("Password:")
	tm.typeLine("password-of-alice")
	s := tm.waitText("Logged in to " + srv.URL + " as " + alice)
	if strings.Contains(s, "password-of-alice") {
		t.Errorf("the password was echoed:\n%s", s)
	}

	tm.typeLine(parleyBin + " chat; echo exit=$?")
	tm.waitText("no conversation · connected")

	// A mistake gets one line in the status bar and changes nothing.
	tm.typeLine("/frob")
	tm.waitText("unknown command /frob; /help lists the commands")
	tm.typeLine("/join nowhere-" + suffix)
	tm.waitText("#nowhere-" + suffix + " does not exist; create it? (y/n)")
	tm.key("n")
	tm.waitText("#nowhere-" + suffix + " was not created")

	tm.typeLine("/join " + channel)
	tm.waitText("#" + channel + " · connected")
	tm.typeLine("Hello from the terminal")
	tm.waitText(alice + ": Hello from the terminal")
	page, err := bob.History(ctx, ch.ID, client.HistoryQuery{})
	if err != nil || len(page.Items) != 1 || page.Items[0].Body != "Hello from the terminal" {
		t.Fatalf("bob reads %+v, %v; want alice's message", page.Items, err)
	}

	m, err := bob.PostMessage(ctx, ch.ID, client.MessageRequest{Body: "Hi alice, bob here"})
	if err != nil {
		t.Fatal(err)
	}
	tm.waitText("bob_" + suffix + ": Hi alice, bob here")
	if _, err := bob.EditMessage(ctx, m.ID, "Hi alice, bob here (and edited)"); err != nil {
		t.Fatal(err)
	}
	s = tm.waitText("bob_" + suffix + ": Hi alice, bob here (and edited) (edited)")

	// What a person sees at 80×24: the header, the channel in the list,
	// both messages in order, the status bar and the input line.
	r := rows(s)
	if len(r) != 24 {
		t.Errorf("the screen has %d rows, want 24:\n%s", len(r), s)
	}
	for i, row := range r {
		if n := utf8.RuneCountInString(row); n > 80 {
			t.Errorf("row %d is %d wide, over 80: %q", i, n, row)
		}
	}
	checks := []struct {
		row  int
		text string
	}{
		{0, "Parley · " + alice + " at " + strings.TrimPrefix(srv.URL, "http://")},
		{1, "Channels"},
		{2, "#" + channel},
		{22, "#" + channel + " · connected"},
		{23, "> "},
	}
	for _, c := range checks {
		if c.row >= len(r) || !strings.Contains(r[c.row], c.text) {
			t.Errorf("row %d does not show %q:\n%s", c.row, c.text, s)
		}
	}
	if a, b := strings.Index(s, "Hello from the terminal"), strings.Index(s, "Hi alice, bob here"); a < 0 || b < a {
		t.Errorf("the messages are not shown oldest first:\n%s", s)
	}
	if strings.Count(s, "Hi alice, bob here") != 1 {
		t.Errorf("bob's message is shown more than once:\n%s", s)
	}
	keep(t, "chat-80x24.txt", s)

	// Conversations not shown count what arrives in them: a channel alice
	// joins and leaves in the background, and a direct message from bob.
	other := "other-" + suffix
	oc, err := bob.CreateChannel(ctx, client.ChannelRequest{Name: other})
	if err != nil {
		t.Fatal(err)
	}
	tm.typeLine("/join " + other)
	tm.waitText("#" + other + " · connected")
	tm.key("BTab") // back to the lobby
	tm.waitText("#" + channel + " · connected")
	for _, body := range []string{"one", "two"} {
		if _, err := bob.PostMessage(ctx, oc.ID, client.MessageRequest{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	dm, err := bob.OpenDirect(ctx, userID(t, bob, alice))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.PostMessage(ctx, dm.ID, client.MessageRequest{Body: "just between us"}); err != nil {
		t.Fatal(err)
	}
	s = tm.waitFor("unread counts for #"+other+" and @bob", func(s string) bool {
		r := rows(s)
		return len(r) > 5 && strings.Contains(r[3], "#"+other) && strings.HasSuffix(strings.TrimRight(r[3][:strings.Index(r[3], "│")], " "), " 2") &&
			strings.Contains(r[4], "Direct") && strings.Contains(r[5], "@bob_"+suffix) && strings.Contains(r[5], " 1")
	})
	keep(t, "chat-unread-80x24.txt", s)
	tm.key("Tab")
	tm.key("Tab")
	tm.waitText("@bob_" + suffix + " · connected")
	tm.waitText("bob_" + suffix + ": just between us")
	tm.key("Tab")
	tm.waitText("#" + channel + " · connected")

	// The server goes away and comes back: the chat says so, reconnects by
	// itself and shows what was posted meanwhile.
	srv.signal(t, syscall.SIGTERM)
	if !srv.wait(stopTimeout) {
		t.Fatal("the server did not stop")
	}
	tm.waitText("reconnecting (cannot reach " + srv.Addr)
	startParley(t, "parley again", serverConfig{DSN: dsn, Env: map[string]string{"PARLEY_ADDR": srv.Addr}})
	if _, err := bob.PostMessage(ctx, ch.ID, client.MessageRequest{Body: "posted while you were away"}); err != nil {
		t.Fatal(err)
	}
	tm.waitText("bob_" + suffix + ": posted while you were away")
	tm.waitText("#" + channel + " · connected")

	// A deletion shows too, and the terminal can shrink.
	if _, err := bob.DeleteMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	tm.waitText("bob_" + suffix + ": (message deleted)")
	tm.run("resize-window", "-t", "t", "-x", "50", "-y", "12")
	s = tm.waitFor("the chat redrawn at 50×12", func(s string) bool {
		r := rows(s)
		// Redrawn, not the old frame cut: the header on top, no sidebar.
		return len(r) == 12 && strings.Contains(r[0], "Parley · "+alice) && strings.Contains(r[10], "#"+channel) &&
			!strings.Contains(s, "│")
	})
	for i, row := range rows(s) {
		if n := utf8.RuneCountInString(row); n > 50 {
			t.Errorf("at 50 wide, row %d is %d wide: %q", i, n, row)
		}
	}
	keep(t, "chat-50x12.txt", s)

	tm.typeLine("/quit")
	tm.waitText("exit=0")
}

// userID finds the id of username, as c sees it.
func userID(t *testing.T, c *client.Client, username string) model.UserID {
	t.Helper()
	p, err := c.Users(context.Background(), client.PageQuery{Q: username})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("find user %s: %+v, %v", username, p, err)
	}
	return p.Items[0].ID
}

// keep stores a screen as an artifact of the test.
func keep(t *testing.T, name, screen string) {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, []byte(screen), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screen kept in %s:\n%s", path, screen)
}
