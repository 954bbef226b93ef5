// Command parley is the Parley chat server and its operator tools.
//
// It is the only package that knows every concrete type: it reads the
// configuration, opens the database, builds the HTTP handler from api with
// db's store, notify's hub, the rate limiter and shared state (in Redis with
// REDIS_URL, else in memory) and the embedded web assets, and runs the
// server until it is told to stop.
//
// Usage:
//
//	parley serve [--dev] [--addr ADDR] …   run the server
//	parley migrate                          apply database migrations and exit
//	parley user create --username U …       create an account (password on stdin)
//	parley worker                           run background tasks
//	parley tasks list|retry                 the dead letters
//	parley vapid-key                        print a new Web Push key
//	parley version                          print the version
//	parley help                             list commands and settings
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx := context.Background()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "parley: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake in the command line; main exits with status 2 for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the whole program. It reads the environment only through getenv and
// does all I/O through the readers and writers it is given, so tests can call
// it like main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "worker":
		return runWorker(ctx, rest, getenv, stderr)
	case "tasks":
		return runTasks(ctx, rest, getenv, stdout, stderr)
	case "vapid-key":
		return runVAPIDKey(stdout, stderr)
	case "login":
		return runLogin(ctx, rest, getenv, stdin, stdout, stderr)
	case "logout":
		return runLogout(ctx, rest, getenv, stdout, stderr)
	case "chat":
		return runChat(ctx, rest, getenv, stdin, stdout, stderr)
	case "send":
		return runSend(ctx, rest, getenv, stdin, stdout, stderr)
	case "tail":
		return runTail(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	default:
		printUsage(stderr)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parseFlags parses args with fs, treating -h as success: the flag package
// has already printed the usage then.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return false, usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return false, nil
}

// versionString returns the version and, when the binary was built from a
// VCS checkout, the commit it was built from.
func versionString() string {
	var b strings.Builder
	b.WriteString("parley " + version)
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b.String()
	}
	var rev, when string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		b.WriteString(" (commit " + rev)
		if when != "" {
			b.WriteString(", " + when)
		}
		if modified {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	b.WriteString(" " + info.GoVersion)
	return b.String()
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Parley is a chat server: a REST API for accounts, channels, direct
conversations and messages, stored in PostgreSQL.

Usage:
  parley serve [--dev] [flags]     run the HTTP server (migrates the database first)
  parley migrate                   apply database migrations and exit
  parley user create --username NAME [--display-name NAME] [--admin]
                                   create an account; the password is the first
                                   line of standard input; prints the new id
  parley worker [--dev] [flags]    run background tasks (push, retention) beside
                                   serve instances run with PARLEY_RUN_TASKS=false
  parley tasks list [--all]        list the dead letters: tasks that failed for good
  parley tasks retry ID…           run dead tasks again
  parley vapid-key                 print a new PARLEY_VAPID_PRIVATE_KEY
  parley version                   print the version
  parley help                      show this help

The terminal client:
  parley login --server URL [--username NAME] [--register]
                                   log in (password asked, or the first line of
                                   standard input); the login is kept for the rest
  parley logout                    end the login
  parley chat                      chat, full screen (/help lists its commands)
  parley send --channel NAME [TEXT]
                                   post TEXT, or each line of standard input
  parley tail --channel NAME [--json]
                                   print messages as they arrive, with edits and
                                   deletions, until interrupted

"parley COMMAND -h" shows a command's flags.

Settings (environment variables; flags override them):
`)
	printSettings(w)
}
