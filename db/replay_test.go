package db

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPgbenchReplay checks that the pgbench scripts of make bench replay
// exactly the statements the store runs, so that comparing the server with
// pgbench compares like with like. A statement here changes: change the
// script in bench/pgbench/ with it.
func TestPgbenchReplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		want   []string
		sets   map[string]string // \set meta-commands that must hold these values
	}{
		{
			// CreateMessage: the parameters in the order it passes them.
			script: "post.sql",
			want: []string{
				bindPgbench(t, createMessageSQL, "conv_id", "user_id", "body", "client_msg_id", "created_at"),
			},
		},
		{
			// ListMessages with no cursor.
			script: "history.sql",
			want:   []string{bindPgbench(t, latestMessagesSQL, "conv_id", "user_id", "page_rows")},
			sets:   map[string]string{"page_rows": strconv.Itoa(pageLimit(0) + 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile("../bench/pgbench/" + tt.script)
			if err != nil {
				t.Fatal(err)
			}
			got, sets := parsePgbench(string(src))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("the SQL of %s differs from the store's (-store +script):\n%s", tt.script, diff)
			}
			for name, want := range tt.sets {
				if sets[name] != want {
					t.Errorf(`%s: got \set %s %q, want %q`, tt.script, name, sets[name], want)
				}
			}
		})
	}
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// bindPgbench turns the store's $n placeholders into pgbench variables,
// vars[n-1] for $n, and normalises white space.
func bindPgbench(t *testing.T, query string, vars ...string) string {
	t.Helper()
	out := placeholder.ReplaceAllStringFunc(query, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		if n < 1 || n > len(vars) {
			t.Fatalf("%s has no variable in %q", p, query)
		}
		return ":" + vars[n-1]
	})
	return strings.Join(strings.Fields(out), " ")
}

// parsePgbench returns a pgbench script's SQL commands, white space
// normalised and without the closing semicolon, and the values of its \set
// meta-commands. A command ends with ";" at the end of a line or with a
// \gset line; lines that start with "--" are comments.
func parsePgbench(src string) (cmds []string, sets map[string]string) {
	sets = map[string]string{}
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			cmds = append(cmds, strings.Join(strings.Fields(strings.Join(cur, " ")), " "))
			cur = nil
		}
	}
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "--"):
		case strings.HasPrefix(line, `\`):
			f := strings.Fields(line)
			if f[0] == `\set` && len(f) >= 3 {
				sets[f[1]] = strings.Join(f[2:], " ")
			}
			flush() // \gset ends the command before it
		case strings.HasSuffix(line, ";"):
			cur = append(cur, strings.TrimSuffix(line, ";"))
			flush()
		default:
			cur = append(cur, line)
		}
	}
	flush()
	return cmds, sets
}
