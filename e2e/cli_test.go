package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/client"
	"parley/internal/dbtest"
)

// The terminal client's scriptable commands, run as a person or a shell
// script would: as processes with their own configuration directory.

// cliHome is a home directory for the terminal client, with the
// environment that points the parley commands at it.
type cliHome struct {
	dir string
	env []string
}

func newCLIHome(t *testing.T) cliHome {
	t.Helper()
	dir := t.TempDir()
	return cliHome{dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"),
		"TERM=xterm-256color",
	}}
}

// cliResult is how a parley command ended.
type cliResult struct {
	stdout, stderr string
	code           int
}

// run runs parley with args and stdin, and returns how it ended.
func (h cliHome) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, parleyBin, args...)
	cmd.Env = h.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("parley %v: %v", args, err)
	}
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// login logs h in as name (registering it first when register is set).
func (h cliHome) login(t *testing.T, url, name, password string, register bool) {
	t.Helper()
	args := []string{"login", "--server", url, "--username", name}
	if register {
		args = append(args, "--register")
	}
	r := h.run(t, password+"\n", args...)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in") {
		t.Fatalf("parley login: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// loginFile returns the login h keeps.
func (h cliHome) loginFile(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dir, ".config", "parley", "login.json"))
	if err != nil {
		t.Fatal(err)
	}
	var l map[string]any
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// newClient registers name on url through the client package and returns
// it logged in.
func newClient(t *testing.T, url, name string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), client.RegisterRequest{Username: name, Password: "password-of-" + name}); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return c
}

// TestCLI_SendIntoTail follows a channel with `parley tail --json` in one
// process while `parley send` posts lines of its standard input from
// another, and another user edits and deletes; tail prints each change as
// it happens. Then a shell pipeline `parley tail | head -n 1` ends when
// head has its line.
func TestCLI_SendIntoTail(t *testing.T) {
	srv := startParley(t, "parley", serverConfig{DSN: dbtest.DSN(t)})
	suffix := randomHex(3)
	bob := newClient(t, srv.URL, "bob_"+suffix)
	channel := "pipes-" + suffix
	ch, err := bob.CreateChannel(context.Background(), client.ChannelRequest{Name: channel})
	if err != nil {
		t.Fatal(err)
	}
	alice := newCLIHome(t)
	alice.login(t, srv.URL, "alice_"+suffix, "password-of-alice", true)
	if mode := fileMode(t, filepath.Join(alice.dir, ".config", "parley", "login.json")); mode != 0o600 {
		t.Errorf("login.json has mode %o, want 600", mode)
	}

	cmd := exec.Command(parleyBin, "tail", "--channel", channel, "--json")
	cmd.Env = alice.env
	tail := startProc(t, "parley tail", cmd, false)
	tail.out.waitLine(t, tail, 30*time.Second, "tail's following line", func(l string) bool {
		return strings.Contains(l, "following #"+channel)
	})

	r := alice.run(t, "first line\n\nsecond line\n", "send", "--channel", channel)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("parley send: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	type line struct {
		Type    string     `json:"type"`
		Channel string     `json:"channel"`
		Seq     int64      `json:"seq"`
		Sender  string     `json:"sender"`
		Body    string     `json:"body"`
		Edited  *time.Time `json:"edited_at"`
		Deleted *time.Time `json:"deleted_at"`
	}
	var got []line
	// waitLines waits until tail has printed n changes, all kept in got.
	waitLines := func(n int) {
		t.Helper()
		got = got[:0] // waitLine reads from the first line again
		tail.out.waitLine(t, tail, 30*time.Second, fmt.Sprintf("%d changes on tail's output", n), func(l string) bool {
			var x line
			if json.Unmarshal([]byte(l), &x) == nil && x.Type != "" {
				got = append(got, x)
			}
			return len(got) == n
		})
	}
	waitLines(2)
	// bob posts, edits and deletes a message: tail shows each as it happens.
	// (A change is shown with the message as it is when tail fetches it,
	// so each step waits for the one before to show.)
	c := context.Background()
	m, err := bob.PostMessage(c, ch.ID, client.MessageRequest{Body: "bob was here"})
	if err != nil {
		t.Fatal(err)
	}
	waitLines(3)
	if _, err := bob.EditMessage(c, m.ID, "bob was here, edited"); err != nil {
		t.Fatal(err)
	}
	waitLines(4)
	if _, err := bob.DeleteMessage(c, m.ID); err != nil {
		t.Fatal(err)
	}
	waitLines(5)
	want := []struct{ typ, sender, body string }{
		{"message.created", "alice_" + suffix, "first line"},
		{"message.created", "alice_" + suffix, "second line"},
		{"message.created", "bob_" + suffix, "bob was here"},
		{"message.updated", "bob_" + suffix, "bob was here, edited"},
		{"message.deleted", "bob_" + suffix, ""},
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.Sender != w.sender || g.Body != w.body || g.Channel != channel {
			t.Errorf("tail line %d: got %+v, want %s by %s %q in %s", i+1, g, w.typ, w.sender, w.body, channel)
		}
	}
	if got[3].Edited == nil || got[4].Deleted == nil || got[2].Seq != 3 || got[4].Seq != 3 {
		t.Errorf("tail lines 3-5: got %+v; want seq 3 created, edited, then deleted", got[2:])
	}

	// A pipeline: tail prints lines as they come, and ends at its next
	// line once the reader is gone (SIGPIPE), as tail -f does.
	pipe := exec.Command("sh", "-c", fmt.Sprintf("%s tail --channel %s | head -n 1", parleyBin, channel))
	pipe.Env = alice.env
	var out bytes.Buffer
	pipe.Stdout = &out
	stderr, err := pipe.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	following, ended := make(chan struct{}), make(chan error, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 4096)
		told := false
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if !told && bytes.Contains(seen, []byte("following")) {
				close(following)
				told = true
			}
			if err != nil {
				break
			}
		}
		ended <- pipe.Wait()
	}()
	select {
	case <-following:
	case err := <-ended:
		t.Fatalf("tail | head ended (%v) before following", err)
	case <-time.After(30 * time.Second):
		_ = pipe.Process.Kill()
		t.Fatal("tail | head: not following within 30s")
	}
	if _, err := bob.PostMessage(c, ch.ID, client.MessageRequest{Body: "through a pipe"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case err := <-ended:
			if err != nil {
				t.Fatalf("tail | head: %v", err)
			}
			done = true
		case <-time.After(500 * time.Millisecond):
			// Nudge tail into writing again, which ends it once head is gone.
			if _, err := bob.PostMessage(c, ch.ID, client.MessageRequest{Body: "nudge"}); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			_ = pipe.Process.Kill()
			t.Fatal("tail | head did not end within 60s")
		}
	}
	if line := strings.TrimSpace(out.String()); !strings.HasSuffix(line, "bob_"+suffix+": through a pipe") {
		t.Errorf("tail | head -n 1 printed %q, want \"[HH:MM] bob_%s: through a pipe\"", line, suffix)
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestCLI_BadInput checks that each mistake gets one clear line on
// standard error, no stack trace, and the conventional exit status: 2 for
// a wrong command line, 1 for everything else.
func TestCLI_BadInput(t *testing.T) {
	srv := startParley(t, "parley", serverConfig{DSN: dbtest.DSN(t)})
	suffix := randomHex(3)
	name := "carol_" + suffix
	home := newCLIHome(t)
	nobody := newCLIHome(t)

	oneLine := func(t *testing.T, r cliResult, code int, want string) {
		t.Helper()
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		if r.code != code || !strings.HasPrefix(last, "parley: ") || !strings.Contains(last, want) {
			t.Errorf("exit %d, last line of stderr %q; want exit %d and a line with %q", r.code, last, code, want)
		}
		if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
			t.Errorf("a stack trace on stderr:\n%s", r.stderr)
		}
	}
	t.Run("UnknownCommand", func(t *testing.T) {
		oneLine(t, home.run(t, "", "chatt"), 2, `unknown command "chatt"`)
	})
	t.Run("UnknownFlag", func(t *testing.T) {
		oneLine(t, home.run(t, "", "send", "--chanel", "x", "hi"), 2, "flag provided but not defined: -chanel")
	})
	t.Run("NotLoggedIn", func(t *testing.T) {
		r := nobody.run(t, "", "send", "--channel", "general", "hi")
		oneLine(t, r, 1, "not logged in; run: parley login --server URL")
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("stderr %q, want one line", r.stderr)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		newClient(t, srv.URL, name) // the account exists
		oneLine(t, home.run(t, "wrong password\n", "login", "--server", srv.URL, "--username", name), 1, "")
	})
	home.login(t, srv.URL, name, "password-of-"+name, false)
	t.Run("UnknownChannel", func(t *testing.T) {
		for _, cmd := range [][]string{{"send", "--channel", "nowhere", "hi"}, {"tail", "--channel", "nowhere"}} {
			r := home.run(t, "", cmd...)
			oneLine(t, r, 1, `there is no channel named "nowhere"`)
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%v: stderr %q, want one line", cmd, r.stderr)
			}
		}
	})
	t.Run("NothingToSend", func(t *testing.T) {
		if _, err := newClient(t, srv.URL, "dave_"+suffix).CreateChannel(context.Background(),
			client.ChannelRequest{Name: "quiet-" + suffix}); err != nil {
			t.Fatal(err)
		}
		oneLine(t, home.run(t, "\n\n", "send", "--channel", "quiet-"+suffix), 2, "nothing to send")
	})
	t.Run("ChatWithoutTerminal", func(t *testing.T) {
		oneLine(t, home.run(t, "", "chat"), 2, "chat needs a terminal")
	})
	t.Run("ExpiredLogin", func(t *testing.T) {
		// End the login from elsewhere with its refresh token, and let the
		// access token kept in the file expire.
		expired := newCLIHome(t)
		expired.login(t, srv.URL, name, "password-of-"+name, false)
		path := filepath.Join(expired.dir, ".config", "parley", "login.json")
		l := expired.loginFile(t)
		session := l["session"].(map[string]any)
		other, err := client.New(srv.URL, client.Options{Session: client.Session{RefreshToken: session["refresh_token"].(string)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Logout(context.Background()); err != nil {
			t.Fatal(err)
		}
		session["expiry"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
		data, _ := json.Marshal(l)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		oneLine(t, expired.run(t, "", "send", "--channel", "quiet-"+suffix, "hi"), 1,
			"your login has ended (it expired, or was logged out elsewhere); run: parley login --server URL")
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the ended login is still kept in %s (%v)", path, err)
		}
	})
	t.Run("ServerDown", func(t *testing.T) {
		down := newCLIHome(t)
		down.login(t, srv.URL, name, "password-of-"+name, false)
		path := filepath.Join(down.dir, ".config", "parley", "login.json")
		l := down.loginFile(t)
		port := freePort(t)
		l["server"] = fmt.Sprintf("http://127.0.0.1:%d", port)
		data, _ := json.Marshal(l)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		oneLine(t, down.run(t, "", "send", "--channel", "general", "hi"), 1,
			fmt.Sprintf("cannot reach 127.0.0.1:%d: connection refused", port))
	})
	t.Run("Logout", func(t *testing.T) {
		r := home.run(t, "", "logout")
		if r.code != 0 {
			t.Fatalf("logout: exit %d: %s", r.code, r.stderr)
		}
		oneLine(t, home.run(t, "", "send", "--channel", "quiet-"+suffix, "hi"), 1, "not logged in")
	})
}
