package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"parley/tui"
)

// runChat opens the full-screen chat on the saved login.
func runChat(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	channel := fs.String("channel", "", "a channel to open first")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley chat [--channel NAME]\n\n"+
			"Chats full screen on the login of parley login. Type /help in it for its commands.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	in, inOK := stdin.(*os.File)
	out, outOK := stdout.(*os.File)
	if !inOK || !outOK || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return usageError{"chat needs a terminal; scripts can use parley send and parley tail"}
	}
	c, err := loggedIn(getenv)
	if err != nil {
		return err
	}
	// Fail here, with one line on a normal screen, rather than inside the
	// full-screen UI: no server, an ended login.
	me, err := c.Me(ctx)
	if err != nil {
		return explain(err)
	}
	err = tui.Run(ctx, c, me, tui.Options{Channel: *channel, Input: in, Output: out})
	if errors.Is(err, tui.ErrLoggedOut) {
		return explain(err)
	}
	return err
}
