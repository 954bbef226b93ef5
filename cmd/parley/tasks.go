package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river/rivertype"

	"parley/jobs"
	"parley/push"
)

// runTasks dispatches the operator's commands on the task queue:
//
//	parley tasks list [--all] [--limit N]   the dead letters (or every task)
//	parley tasks retry ID…                  run dead tasks again
func runTasks(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := "Usage: parley tasks list [--all] [--limit N] | parley tasks retry ID…"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError{"tasks: missing subcommand (list or retry)"}
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("tasks "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "list tasks in every state, not only the dead letters")
	limit := fs.Int("limit", 50, "list at most this many, newest first (1-1000)")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage); fs.PrintDefaults() }
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	switch sub {
	case "list":
		if fs.NArg() > 0 {
			return usageError{fmt.Sprintf("tasks list: unexpected argument %q", fs.Arg(0))}
		}
		if *limit < 1 || *limit > 1000 {
			return usageError{"tasks list: --limit must be 1 to 1000"}
		}
	case "retry":
		if fs.NArg() == 0 {
			return usageError{"tasks retry: give the ids of the tasks to retry"}
		}
	default:
		fmt.Fprintln(stderr, usage)
		return usageError{fmt.Sprintf("tasks: unknown subcommand %q", sub)}
	}

	dsn := strings.TrimSpace(getenv("DATABASE_URL"))
	if dsn == "" {
		return fmt.Errorf("DATABASE_URL is not set: give the PostgreSQL connection string")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t, err := openTasks(ctx, dsn, taskConfig{Concurrency: 1}, logger, nil, nil, false)
	if err != nil {
		return err
	}
	defer t.close(ctx, time.Second)

	if sub == "retry" {
		for _, a := range fs.Args() {
			id, err := strconv.ParseInt(a, 10, 64)
			if err != nil || id < 1 {
				return usageError{fmt.Sprintf("tasks retry: %q is not a task id", a)}
			}
			task, err := t.queue.Retry(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "task %d (%s) is %s\n", task.ID, task.Kind, task.State)
		}
		return nil
	}
	states := jobs.DeadStates
	if *all {
		states = nil
	}
	tasks, err := t.queue.List(ctx, states, *limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPTS\tCREATED\tARGS\tLAST ERROR")
	for _, task := range tasks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", task.ID, task.Kind, task.State, task.Attempt, task.MaxAttempts,
			task.CreatedAt.UTC().Format(time.RFC3339), compactJSON(task.EncodedArgs), lastError(task))
	}
	return tw.Flush()
}

func compactJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func lastError(t *rivertype.JobRow) string {
	if len(t.Errors) == 0 {
		return ""
	}
	e := t.Errors[len(t.Errors)-1].Error
	if i := strings.IndexByte(e, '\n'); i >= 0 {
		e = e[:i]
	}
	return e
}

// runVAPIDKey prints a new VAPID private key for PARLEY_VAPID_PRIVATE_KEY
// and, on stderr, its public key.
func runVAPIDKey(stdout, stderr io.Writer) error {
	private, err := push.GenerateVAPIDKey()
	if err != nil {
		return err
	}
	public, err := push.VAPIDPublicKey(private)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, private)
	fmt.Fprintf(stderr, "public key: %s\n", public)
	return nil
}
