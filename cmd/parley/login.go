package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"parley/client"
	"parley/model"
)

// The terminal client's commands (login, logout, chat, send, tail) keep
// the login in loginFile under the user's configuration directory, mode
// 0600, and share it through a lock, so that a refresh by one of them is
// seen by the others instead of reusing a spent refresh token, which would
// end the login.

// savedLogin is what loginFile holds.
type savedLogin struct {
	Server  string         `json:"server"`
	Session client.Session `json:"session"`
}

// loginPath returns where the login is kept: $XDG_CONFIG_HOME/parley, else
// $HOME/.config/parley.
func loginPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "parley", "login.json"), nil
}

// loginFile is a client.SessionStore on a file.
type loginFile struct {
	path   string
	server string
}

// lock takes an exclusive lock beside the file, shared by every process
// of this user; the returned func releases it.
func (f loginFile) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		_ = lf.Close()
		return nil, err
	}
	return func() { _ = lf.Close() }, nil // closing releases the lock
}

func (f loginFile) read() (savedLogin, error) {
	var l savedLogin
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, fmt.Errorf("%s is damaged (%w); run parley login again", f.path, err)
	}
	return l, nil
}

// write replaces the file atomically, so a crash never leaves half a login.
func (f loginFile) write(l savedLogin) error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".login-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}

// Update implements client.SessionStore. A session emptied (the login
// ended) removes the file.
func (f loginFile) Update(fn func(client.Session) (client.Session, error)) error {
	unlock, err := f.lock()
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.path, err)
	}
	defer unlock()
	l, err := f.read()
	if err != nil {
		return err
	}
	if l.Server != f.server {
		l = savedLogin{Server: f.server} // a login to another server: not ours to use
	}
	next, err := fn(l.Session)
	if err != nil {
		return err
	}
	if next.RefreshToken == "" {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	l.Session = next
	return f.write(l)
}

// errNotLoggedIn tells the user what to do when there is no login.
var errNotLoggedIn = errors.New("not logged in; run: parley login --server URL")

// loggedIn returns a client for the saved login.
func loggedIn(getenv func(string) string) (*client.Client, error) {
	path, err := loginPath(getenv)
	if err != nil {
		return nil, err
	}
	l, err := loginFile{path: path}.read()
	if err != nil {
		return nil, err
	}
	if l.Server == "" || l.Session.RefreshToken == "" {
		return nil, errNotLoggedIn
	}
	return client.New(l.Server, client.Options{Session: l.Session, Store: loginFile{path: path, server: l.Server}})
}

// explain turns the client's errors into the one line a person reads.
func explain(err error) error {
	var apiErr *client.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrLoggedOut):
		return errors.New("your login has ended (it expired, or was logged out elsewhere); run: parley login --server URL")
	case errors.As(err, &apiErr) && apiErr.Code == model.EInternal:
		return errors.New("the server failed; try again later")
	case errors.As(err, &apiErr):
		return errors.New(sentence(apiErr.Message))
	}
	return err
}

// sentence makes the API's message ("There is no channel named x.") fit
// after "parley: ": lower case, no full stop.
func sentence(s string) string {
	s = strings.TrimSuffix(s, ".")
	if r, n := utf8.DecodeRuneInString(s); unicode.IsUpper(r) && !strings.HasPrefix(s[n:], " ") {
		return string(unicode.ToLower(r)) + s[n:]
	}
	return s
}

// runLogin logs in (or with --register creates an account) and keeps the
// login for the other commands.
func runLogin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the server's URL, such as https://chat.example.com (required)")
	username := fs.String("username", "", "your username (asked when absent)")
	register := fs.Bool("register", false, "create the account first")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley login --server URL [--username NAME] [--register]\n\n"+
			"Logs in and keeps the login, mode 0600, in $XDG_CONFIG_HOME/parley (else ~/.config/parley).\n"+
			"The password is asked without echo, or read from the first line of standard input\n"+
			"when that is not a terminal.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *server == "" {
		return usageError{"login: --server is required"}
	}
	c, err := client.New(*server, client.Options{})
	if err != nil {
		return usageError{"login: " + err.Error()}
	}
	in := bufio.NewReader(stdin)
	if *username == "" {
		if *username, err = prompt(in, stderr, "Username: "); err != nil {
			return err
		}
	}
	password, err := askPassword(stdin, in, stderr)
	if err != nil {
		return err
	}
	var u client.User
	if *register {
		u, err = c.Register(ctx, client.RegisterRequest{Username: *username, Password: password})
	} else {
		u, err = c.Login(ctx, *username, password)
	}
	if err != nil {
		return explain(err)
	}
	path, err := loginPath(getenv)
	if err != nil {
		return err
	}
	store := loginFile{path: path, server: c.BaseURL()}
	if err := store.Update(func(client.Session) (client.Session, error) { return c.Session(), nil }); err != nil {
		return fmt.Errorf("keep the login: %w", err)
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s.\n", c.BaseURL(), u.Username)
	return nil
}

func prompt(in *bufio.Reader, stderr io.Writer, what string) (string, error) {
	fmt.Fprint(stderr, what)
	line, err := in.ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" && err != nil {
		return "", errors.New("no " + strings.ToLower(strings.TrimSuffix(what, ": ")) + " given")
	}
	return line, nil
}

// askPassword asks for the password without echo on a terminal, and
// otherwise reads the next line of standard input.
func askPassword(stdin io.Reader, in *bufio.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	return prompt(in, io.Discard, "Password: ")
}

// runLogout ends the login on the server and forgets it here.
func runLogout(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley logout\n\nEnds the login that parley login kept.\n")
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	c, err := loggedIn(getenv)
	if err != nil {
		return err
	}
	if err := c.Logout(ctx); err != nil {
		// Forget it here anyway: the user asked to be logged out.
		path, _ := loginPath(getenv)
		_ = loginFile{path: path, server: c.BaseURL()}.Update(func(client.Session) (client.Session, error) {
			return client.Session{}, nil
		})
		return fmt.Errorf("forgot the login here, but could not end it on the server: %w", explain(err))
	}
	fmt.Fprintln(stdout, "Logged out.")
	return nil
}
