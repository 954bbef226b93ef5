package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"parley/auth"
	"parley/db"
	"parley/model"
)

// runMigrate applies the migrations that the database lacks (db.Open does
// it) and exits.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley migrate\n\nApplies the database migrations to DATABASE_URL and exits.\n")
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	store, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	// The task queue's own tables (River's migrations).
	tasks, err := openTasks(ctx, strings.TrimSpace(getenv("DATABASE_URL")), taskConfig{Concurrency: 1}, nil, nil, nil, false)
	if err != nil {
		return err
	}
	tasks.close(ctx, time.Second)
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

// runUser dispatches the user subcommands.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "Usage: parley user create --username NAME [--display-name NAME] [--admin] < password")
		if len(args) == 0 {
			return usageError{"user: missing subcommand (create)"}
		}
		return usageError{fmt.Sprintf("user: unknown subcommand %q", args[0])}
	}
	return runUserCreate(ctx, args[1:], getenv, stdin, stdout, stderr)
}

// runUserCreate creates an account, taking the password from the first line
// of stdin so it never appears in the process list or the shell history,
// and prints the new user's id.
func runUserCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "the new account's username, 3-32 of A-Z a-z 0-9 _ . - (required)")
	displayName := fs.String("display-name", "", "the name shown to others (default: the username)")
	admin := fs.Bool("admin", false, "make the account an administrator (may delete anyone's messages)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley user create --username NAME [--display-name NAME] [--admin] < password\n\n"+
			"Creates an account. The password is the first line of standard input.\nPrints the new user's id.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *username == "" {
		return usageError{"user create: --username is required"}
	}
	if err := model.ValidateUsername(*username); err != nil {
		return fmt.Errorf("user create: %s", userMessage(err))
	}
	name, err := model.NormalizeDisplayName(*displayName)
	if err != nil {
		return fmt.Errorf("user create: %s", userMessage(err))
	}

	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintln(stderr, "Password (read from standard input, shown as typed):")
		}
	}
	password, err := readPassword(stdin)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	if err := model.ValidatePassword(password); err != nil {
		return fmt.Errorf("user create: %s", userMessage(err))
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("user create: hash password: %w", err)
	}

	store, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	u, err := store.CreateUser(ctx, model.NewUser{
		Username:     *username,
		DisplayName:  name,
		PasswordHash: hash,
		IsAdmin:      *admin,
	})
	if err != nil {
		if model.ErrorCode(err) == model.EConflict {
			return fmt.Errorf("user create: the username %q is taken", *username)
		}
		return fmt.Errorf("user create: %w", err)
	}
	fmt.Fprintln(stdout, u.ID)
	return nil
}

// readPassword returns the first line of r without its line ending. It reads
// no more than a password can be, so a stray file on stdin is not slurped.
func readPassword(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, model.MaxPasswordBytes+2))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", errors.New("no password: give it as the first line of standard input")
	}
	return line, nil
}

// userMessage is the text of a model error, without its code.
func userMessage(err error) string {
	var e *model.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// openStore opens (and migrates) the database named by DATABASE_URL.
func openStore(ctx context.Context, getenv func(string) string) (*db.Store, error) {
	dsn := strings.TrimSpace(getenv("DATABASE_URL"))
	if dsn == "" {
		return nil, errors.New("DATABASE_URL is not set: give the PostgreSQL connection string")
	}
	store, err := db.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return store, nil
}
