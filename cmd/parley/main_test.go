package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/api"
	"parley/db"
	"parley/internal/dbtest"
)

// testSecret is a JWT secret of the minimum length.
var testSecret = strings.Repeat("s", minSecretBytes)

// TestRun_Serve runs the real server the way main does and uses it over
// HTTP: an operator-created admin, a registered user, a channel, a message
// and its history, then a graceful stop.
func TestRun_Serve(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	env := map[string]string{
		"DATABASE_URL":      dsn,
		"PARLEY_JWT_SECRET": testSecret,
		"PARLEY_ADDR":       "127.0.0.1:0",
	}

	// The operator creates an admin before the server starts.
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"user", "create", "--username", "root", "--display-name", "Root", "--admin"},
		getenvFrom(env), strings.NewReader("correct horse battery\n"), &out, &errOut)
	if err != nil {
		t.Fatalf("user create: %v (stderr: %s)", err, errOut.String())
	}
	if id := strings.TrimSpace(out.String()); id == "" || strings.Trim(id, "0123456789") != "" {
		t.Fatalf("user create printed %q, want a numeric id", out.String())
	}

	base, logs, stop := startServer(t, env)
	if addr := logs.debugAddr(); addr != "" {
		t.Errorf("a debug listener started on %s without PARLEY_DEBUG_ADDR, want none", addr)
	}

	alice := postJSON[tokens](t, base+"/api/v1/auth/register", "", map[string]string{
		"username": "alice", "password": "alice-password", "display_name": "Alice",
	}, http.StatusCreated)
	if alice.AccessToken == "" || alice.RefreshToken == "" || alice.User.Username != "alice" {
		t.Fatalf("register: got %+v, want tokens for alice", alice)
	}
	channel := postJSON[conversation](t, base+"/api/v1/channels", alice.AccessToken,
		map[string]string{"name": "general", "topic": "Anything goes"}, http.StatusCreated)
	if channel.Kind != "channel" || channel.Name != "general" {
		t.Fatalf("create channel: got %+v, want channel general", channel)
	}
	msgsURL := fmt.Sprintf("%s/api/v1/conversations/%d/messages", base, channel.ID)
	sent := postJSON[message](t, msgsURL, alice.AccessToken, map[string]string{"body": "hello, world"}, http.StatusCreated)
	if sent.Seq != 1 || sent.Body != "hello, world" {
		t.Fatalf("post message: got %+v, want seq 1 with the body", sent)
	}
	history := getJSON[page[message]](t, msgsURL, alice.AccessToken, http.StatusOK)
	want := []message{sent}
	if diff := cmp.Diff(want, history.Items); diff != "" {
		t.Errorf("history mismatch (-want +got):\n%s", diff)
	}

	// The admin made by "user create" logs in with the password from stdin,
	// and can do what only an admin can: delete someone else's message
	// after joining the channel.
	root := postJSON[tokens](t, base+"/api/v1/auth/login", "",
		map[string]string{"username": "root", "password": "correct horse battery"}, http.StatusOK)
	if root.User.Username != "root" || root.User.DisplayName != "Root" {
		t.Fatalf("login as root: got user %+v", root.User)
	}
	doJSON[conversation](t, http.MethodPut, fmt.Sprintf("%s/api/v1/channels/%d/members/me", base, channel.ID),
		root.AccessToken, nil, http.StatusOK)
	deleted := doJSON[message](t, http.MethodDelete, fmt.Sprintf("%s/api/v1/messages/%d", base, sent.ID),
		root.AccessToken, nil, http.StatusOK)
	if deleted.DeletedAt == nil || deleted.Body != "" {
		t.Errorf("admin delete: got %+v, want the body removed and deleted_at set", deleted)
	}

	if err := stop(); err != nil {
		t.Errorf("run returned %v after cancel, want nil (graceful shutdown)", err)
	}
}

// TestRun_ServeDebug checks that PARLEY_DEBUG_ADDR serves the profiles on
// its own listener and never on the public one.
func TestRun_ServeDebug(t *testing.T) {
	t.Parallel()
	base, logs, stop := startServer(t, map[string]string{
		"DATABASE_URL":      dbtest.DSN(t),
		"PARLEY_JWT_SECRET": testSecret,
		"PARLEY_ADDR":       "127.0.0.1:0",
		"PARLEY_DEBUG_ADDR": "127.0.0.1:0",
	})
	debug := logs.debugAddr()
	if debug == "" {
		t.Fatal("no debug listening line before the listening line")
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	const profileList = "Types of profiles available"
	if status, body := get("http://" + debug + "/debug/pprof/"); status != http.StatusOK || !strings.Contains(body, profileList) {
		t.Errorf("debug listener /debug/pprof/: got %d %.80q, want 200 with the list of profiles", status, body)
	}
	if status, body := get("http://" + debug + "/debug/pprof/goroutine?debug=1"); status != http.StatusOK || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("debug listener goroutine profile: got %d %.80q, want 200 with a goroutine profile", status, body)
	}
	if _, body := get(base + "/debug/pprof/"); strings.Contains(body, profileList) {
		t.Error("the public listener serves the profiles, want them on the debug listener only")
	}
	if err := stop(); err != nil {
		t.Errorf("run returned %v after cancel, want nil", err)
	}
}

// TestRun_ServeConfigErrors checks that serve refuses to start, before it
// touches the database, when the configuration is unsafe or wrong.
func TestRun_ServeConfigErrors(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"DATABASE_URL":      "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
		"PARLEY_JWT_SECRET": testSecret,
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"NoSecret", []string{"serve"}, map[string]string{"PARLEY_JWT_SECRET": ""}, "PARLEY_JWT_SECRET: not set"},
		{"ShortSecret", []string{"serve", "--dev"}, map[string]string{"PARLEY_JWT_SECRET": testSecret[1:]}, "PARLEY_JWT_SECRET: too short: it has 31 bytes"},
		{"NoDatabase", []string{"serve"}, map[string]string{"DATABASE_URL": ""}, "DATABASE_URL: not set"},
		{"HistoryLimit", []string{"serve"}, map[string]string{"PARLEY_HISTORY_LIMIT": "101"}, "PARLEY_HISTORY_LIMIT"},
		{"HistoryLimitFlag", []string{"serve", "--history-limit", "0"}, nil, "PARLEY_HISTORY_LIMIT"},
		{"Origin", []string{"serve"}, map[string]string{"PARLEY_ALLOWED_ORIGINS": "https://ok.example, chat.example"}, `"chat.example" is not an origin`},
		{"TrustProxy", []string{"serve"}, map[string]string{"PARLEY_TRUST_PROXY": "maybe"}, "PARLEY_TRUST_PROXY"},
		{"LogFormat", []string{"serve"}, map[string]string{"PARLEY_LOG_FORMAT": "xml"}, "PARLEY_LOG_FORMAT"},
		{"ShutdownTimeout", []string{"serve"}, map[string]string{"PARLEY_SHUTDOWN_TIMEOUT": "15"}, "PARLEY_SHUTDOWN_TIMEOUT"},
		{"DrainDelay", []string{"serve"}, map[string]string{"PARLEY_DRAIN_DELAY": "-1s"}, "PARLEY_DRAIN_DELAY"},
		{"LogLevel", []string{"serve"}, map[string]string{"PARLEY_LOG_LEVEL": "loud"}, "PARLEY_LOG_LEVEL"},
		{"PingInterval", []string{"serve", "--ping-interval", "500ms"}, nil, "PARLEY_PING_INTERVAL"},
		{"PostBatchSize", []string{"serve"}, map[string]string{"PARLEY_POST_BATCH_SIZE": "0"}, "PARLEY_POST_BATCH_SIZE"},
		{"PostBatchWaitNegative", []string{"serve", "--post-batch-wait", "-1ms"}, nil, "PARLEY_POST_BATCH_WAIT"},
		{"RefreshGrace", []string{"serve", "--refresh-grace", "-1s"}, nil, "PARLEY_REFRESH_GRACE"},
		{"LoginLifetime", []string{"serve", "--login-lifetime", "10m"}, nil, "PARLEY_LOGIN_LIFETIME"},
		{"TrustProxyList", []string{"serve"}, map[string]string{"PARLEY_TRUST_PROXY": "10.0.0.0/8,proxy.local"}, "PARLEY_TRUST_PROXY"},
		{"RedisURLRedacted", []string{"serve"}, map[string]string{"REDIS_URL": "http://u:hunter2@cache:6379"}, `REDIS_URL: "http://u:xxxxx@cache:6379" is not a Redis URL`},
		{"Rate", []string{"serve", "--rate-post", "10"}, nil, "PARLEY_RATE_POST"},
		{"DebugAddrAnyInterface", []string{"serve"}, map[string]string{"PARLEY_DEBUG_ADDR": ":6060"}, "PARLEY_DEBUG_ADDR: \":6060\" must be a loopback address"},
		{"DebugAddrPublic", []string{"serve", "--debug-addr", "0.0.0.0:6060"}, nil, "must be a loopback address"},
		{"DebugAddrNoPort", []string{"serve"}, map[string]string{"PARLEY_DEBUG_ADDR": "127.0.0.1"}, "PARLEY_DEBUG_ADDR"},
		{"Argument", []string{"serve", "extra"}, nil, `unexpected argument "extra"`},
		{"UnknownFlag", []string{"serve", "--nope"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var stderr bytes.Buffer
			err := run(t.Context(), tt.args, getenvFrom(env), strings.NewReader(""), io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadServeConfig(t *testing.T) {
	t.Parallel()
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := loadServeConfig(nil, getenvFrom(map[string]string{
			"DATABASE_URL": "postgres:///parley", "PARLEY_JWT_SECRET": testSecret,
		}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := serveConfig{
			Addr: ":8080", DatabaseURL: "postgres:///parley", JWTSecret: []byte(testSecret), HistoryLimit: 15,
			LogFormat: "json", ShutdownTimeout: 15 * time.Second, DrainDelay: time.Second,
			RedisPrefix: "parley:", PingInterval: 25 * time.Second, Limits: api.DefaultLimits,
			PostBatchSize: db.DefaultPostBatchSize, PostBatchWait: db.DefaultPostBatchWait,
			RefreshGrace: 30 * time.Second, LoginLifetime: 90 * 24 * time.Hour, Tasks: defaultTaskConfig(),
		}
		if diff := cmp.Diff(want, cfg); diff != "" {
			t.Errorf("config mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("FlagsOverrideEnv", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := loadServeConfig(
			[]string{"--addr", "127.0.0.1:9000", "--trust-proxy", "--history-limit=30", "--rate-post", "5/10s", "--refresh-grace", "0s"},
			getenvFrom(map[string]string{
				"DATABASE_URL": "postgres:///parley", "PARLEY_JWT_SECRET": testSecret,
				"PARLEY_ADDR": ":7000", "PARLEY_TRUST_PROXY": "false", "PARLEY_HISTORY_LIMIT": "20",
				"PARLEY_ALLOWED_ORIGINS": " https://a.example/ ,http://localhost:5173,", "PARLEY_LOG_FORMAT": "TEXT",
				"PARLEY_SHUTDOWN_TIMEOUT": "3s", "PARLEY_RATE_AUTH_IP": "3/1h",
				"REDIS_URL": "redis://:pw@localhost:6379/1", "PARLEY_REDIS_PREFIX": "chat:", "PARLEY_DRAIN_DELAY": "0s",
				"PARLEY_REFRESH_GRACE": "1m", "PARLEY_LOGIN_LIFETIME": "720h",
			}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		lim := api.DefaultLimits
		lim.PostPerUser = api.Rate{N: 5, Per: 10 * time.Second}
		lim.AuthPerIP = api.Rate{N: 3, Per: time.Hour}
		want := serveConfig{
			Addr: "127.0.0.1:9000", DatabaseURL: "postgres:///parley", JWTSecret: []byte(testSecret), HistoryLimit: 30,
			AllowedOrigins: []string{"https://a.example", "http://localhost:5173"}, TrustProxy: true,
			LogFormat: "text", ShutdownTimeout: 3 * time.Second, RedisURL: "redis://:pw@localhost:6379/1",
			RedisPrefix: "chat:", PingInterval: 25 * time.Second, Limits: lim,
			PostBatchSize: db.DefaultPostBatchSize, PostBatchWait: db.DefaultPostBatchWait,
			RefreshGrace: 0, LoginLifetime: 30 * 24 * time.Hour, Tasks: defaultTaskConfig(),
		}
		if diff := cmp.Diff(want, cfg); diff != "" {
			t.Errorf("config mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("TrustedProxies", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := loadServeConfig(nil, getenvFrom(map[string]string{
			"DATABASE_URL": "postgres:///parley", "PARLEY_JWT_SECRET": testSecret,
			"PARLEY_TRUST_PROXY": "10.1.2.3/8, 192.0.2.7,::ffff:198.51.100.1",
		}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("198.51.100.1/32")}
		if !cfg.TrustProxy || !slices.Equal(cfg.TrustedProxies, want) {
			t.Errorf("got TrustProxy %v, TrustedProxies %v; want true, %v", cfg.TrustProxy, cfg.TrustedProxies, want)
		}
	})
	t.Run("DevGeneratesSecret", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := loadServeConfig([]string{"--dev"}, getenvFrom(map[string]string{"DATABASE_URL": "postgres:///parley"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.SecretGenerated || len(cfg.JWTSecret) < minSecretBytes || cfg.LogFormat != "text" {
			t.Errorf("got generated=%v, %d-byte secret, log format %q; want a generated 32-byte secret and text logs",
				cfg.SecretGenerated, len(cfg.JWTSecret), cfg.LogFormat)
		}
	})
	t.Run("DevKeepsGivenSecret", func(t *testing.T) {
		t.Parallel()
		cfg, _, err := loadServeConfig([]string{"--dev"}, getenvFrom(map[string]string{
			"DATABASE_URL": "postgres:///parley", "PARLEY_JWT_SECRET": testSecret,
		}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SecretGenerated || string(cfg.JWTSecret) != testSecret {
			t.Errorf("got generated=%v, want the given secret", cfg.SecretGenerated)
		}
	})
}

// TestServeConfig_logAttrs checks that the startup log never shows a secret.
func TestServeConfig_logAttrs(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadServeConfig(nil, getenvFrom(map[string]string{
		"DATABASE_URL": "postgres://parley:hunter2hunter2@db.example:5432/parley?sslmode=disable", "PARLEY_JWT_SECRET": testSecret,
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprint(cfg.logAttrs()...)
	for _, secret := range []string{"hunter2hunter2", testSecret} {
		if strings.Contains(line, secret) {
			t.Errorf("startup config %q shows a secret", line)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@/db?host=/tmp/s&password=pw&sslmode=disable", "postgres://u@/db?host=/tmp/s&password=xxxxx&sslmode=disable"},
		{"host=/tmp/s user=u password=pw dbname=db", "host=/tmp/s user=u password=xxxxx dbname=db"},
		{"host=h password='p w\\'x' dbname=db", "host=h password=xxxxx dbname=db"},
		{"postgres://u@/db?host=/tmp/s", "postgres://u@/db?host=/tmp/s"},
	}
	for _, tt := range tests {
		if got := redactDSN(tt.in); got != tt.want {
			t.Errorf("redactDSN(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRun_UserCreate(t *testing.T) {
	t.Parallel()
	dsn := dbtest.DSN(t)
	env := getenvFrom(map[string]string{"DATABASE_URL": dsn})
	create := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(t.Context(), append([]string{"user", "create"}, args...), env, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	if _, err := create(t, "a-good-password\n", "--username", "bob"); err != nil {
		t.Fatalf("first create: %v", err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"EmptyPassword", "\nsecond line\n", []string{"--username", "carol"}, "no password"},
		{"NoStdin", "", []string{"--username", "carol"}, "no password"},
		{"ShortPassword", "short\n", []string{"--username", "carol"}, "password: must be 8–256 bytes"},
		{"LongPassword", strings.Repeat("p", 257) + "\n", []string{"--username", "carol"}, "password: must be 8–256 bytes"},
		{"NoUsername", "a-good-password\n", nil, "--username is required"},
		{"BadUsername", "a-good-password\n", []string{"--username", "no spaces"}, "username: must be"},
		{"BadDisplayName", "a-good-password\n", []string{"--username", "carol", "--display-name", "a\tb"}, "display_name: must be"},
		{"Taken", "a-good-password\n", []string{"--username", "BOB"}, `the username "BOB" is taken`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := create(t, tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q on failure, want nothing", out)
			}
		})
	}
	t.Run("CRLF", func(t *testing.T) {
		if out, err := create(t, "windows-password\r\n", "--username", "dave"); err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("got %q, %v; want an id", out, err)
		}
	})
}

func TestRun_Migrate(t *testing.T) {
	t.Parallel()
	env := getenvFrom(map[string]string{"DATABASE_URL": dbtest.DSN(t)})
	for i := range 2 { // applying twice is a no-op the second time
		var out bytes.Buffer
		if err := run(t.Context(), []string{"migrate"}, env, nil, &out, io.Discard); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
		if got := out.String(); got != "database is up to date\n" {
			t.Errorf("migrate #%d printed %q", i+1, got)
		}
	}
	if err := run(t.Context(), []string{"migrate"}, getenvFrom(nil), nil, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "DATABASE_URL is not set") {
		t.Errorf("migrate without DATABASE_URL: got %v", err)
	}
}

func TestRun_Commands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantOut    string // in stdout
		wantErr    string // in the error; empty for success
		wantStderr string
	}{
		{"Version", []string{"version"}, "parley dev", "", ""},
		{"Help", []string{"help"}, "PARLEY_JWT_SECRET", "", ""},
		{"NoArgs", nil, "parley serve", "", ""},
		{"Unknown", []string{"frobnicate"}, "", `unknown command "frobnicate"`, "Usage:"},
		{"ServeHelp", []string{"serve", "-h"}, "", "", "-history-limit"},
		{"UserNoSub", []string{"user"}, "", "missing subcommand", "user create"},
		{"UserUnknownSub", []string{"user", "delete"}, "", `unknown subcommand "delete"`, "user create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(t.Context(), tt.args, getenvFrom(nil), strings.NewReader(""), &out, &errOut)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.wantStderr)
			}
		})
	}
	t.Run("HelpListsEverySetting", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		if err := run(t.Context(), []string{"help"}, getenvFrom(nil), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, s := range allSettings() {
			if !strings.Contains(out.String(), s.env) {
				t.Errorf("help does not mention %s", s.env)
			}
		}
	})
}

// startServer runs "parley serve" with env in the background, waits until
// /healthz answers, and returns the base URL and a stop function that
// cancels the run and returns its error.
func startServer(t *testing.T, env map[string]string) (base string, logs *logWatcher, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logWatcher{t: t, addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenvFrom(env), nil, io.Discard, logs) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })

	select {
	case addr := <-logs.addr:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no listening log line within 30s")
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, logs, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logWatcher is the server's stderr: it copies each log line to the test log
// and reports the address of the "listening" line.
type logWatcher struct {
	t    *testing.T
	addr chan string

	mu    sync.Mutex
	buf   []byte
	seen  bool
	debug string // the address of the "debug listening" line
}

// debugAddr returns the debug listener's address, or "" if none started
// before the "listening" line.
func (w *logWatcher) debugAddr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.debug
}

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.buf[:i]
		w.t.Log(string(line))
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if !w.seen && json.Unmarshal(line, &entry) == nil {
			switch entry.Msg {
			case "listening":
				w.seen = true
				w.addr <- entry.Addr
			case "debug listening":
				w.debug = entry.Addr
			}
		}
		w.buf = w.buf[i+1:]
	}
}

func getenvFrom(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// The wire types the test reads; only the fields it checks.
type (
	user struct {
		ID          int64  `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
	}
	tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
		User         user   `json:"user"`
	}
	conversation struct {
		ID   int64  `json:"id"`
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	message struct {
		ID             int64   `json:"id"`
		ConversationID int64   `json:"conversation_id"`
		Seq            int64   `json:"seq"`
		SenderID       int64   `json:"sender_id"`
		Body           string  `json:"body"`
		DeletedAt      *string `json:"deleted_at"`
	}
	page[T any] struct {
		Items   []T  `json:"items"`
		HasMore bool `json:"has_more"`
	}
)

func postJSON[T any](t *testing.T, url, token string, body any, wantStatus int) T {
	t.Helper()
	return doJSON[T](t, http.MethodPost, url, token, body, wantStatus)
}

func getJSON[T any](t *testing.T, url, token string, wantStatus int) T {
	t.Helper()
	return doJSON[T](t, http.MethodGet, url, token, nil, wantStatus)
}

// doJSON sends body (if not nil) as JSON with the bearer token (if any),
// fails the test unless the status is wantStatus, and decodes the response.
func doJSON[T any](t *testing.T, method, url, token string, body any, wantStatus int) T {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: got status %d, want %d; body %s", method, url, resp.StatusCode, wantStatus, raw)
	}
	var v T
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return v
}

// TestREADME_Settings keeps the README's settings table in step with the
// settings serve reads: each variable has a row that names its flag and,
// where the default is a value, that value.
func TestREADME_Settings(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flagCell := map[string]string{} // variable → the row's flag column
	defCell := map[string]string{}  // variable → the row's default column
	for line := range strings.SplitSeq(string(readme), "\n") {
		cells := strings.Split(line, " | ")
		if strings.HasPrefix(line, "| `") && len(cells) >= 4 {
			flagCell[strings.Trim(cells[0], "| `")] = cells[1]
			defCell[strings.Trim(cells[0], "| `")] = cells[2]
		}
	}
	for _, s := range allSettings() {
		want := "—"
		if s.flag != "" {
			want = "`--" + s.flag + "`"
		}
		if got, ok := flagCell[s.env]; !ok {
			t.Errorf("README has no settings row for %s", s.env)
		} else if got != want {
			t.Errorf("README row for %s: got flag column %q, want %q", s.env, got, want)
		}
		if s.shown == "" && defCell[s.env] != "`"+s.def+"`" {
			t.Errorf("README row for %s: got default column %q, want %q", s.env, defCell[s.env], "`"+s.def+"`")
		}
	}
}
