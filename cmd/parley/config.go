package main

import (
	"bytes"
	"crypto/rand"
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/api"
	"parley/auth"
	"parley/db"
	"parley/model"
)

// minSecretBytes is the shortest JWT secret serve accepts: HS256 wants a key
// at least as long as its 32-byte output.
const minSecretBytes = auth.MinSecretLen

// A setting is one configuration value: an environment variable and,
// unless it is a secret, a flag of serve that overrides it. serveConfig's
// settings table is the one place a setting is declared: it drives the
// parsing, the defaults, the help text, the startup log and the README's
// table (TestREADME_Settings).
type setting struct {
	env   string
	flag  string // empty for secrets: flags show up in ps
	def   string // the default, read like a given value; "" for none
	shown string // the default as help shows it, when def does not say it
	help  string
	value value // where the value goes
	raw   bool  // taken as given, not trimmed: every byte of a secret is key
}

// value is a setting's destination: it reads the setting's text and shows
// what it holds (with secrets masked) in the startup log.
type value interface {
	encoding.TextUnmarshaler
	String() string
}

// settings lists every setting serve reads into c, in the order help
// shows them. To add a setting, add its field to serveConfig and its row
// here (and to the README's table).
func (c *serveConfig) settings() []setting {
	l := &c.Limits
	return append([]setting{
		{env: "PARLEY_ADDR", flag: "addr", def: ":8080", help: "address to listen on, host:port (port 0 picks a free one)", value: (*text)(&c.Addr)},
		{env: "DATABASE_URL", shown: "(required)", help: "PostgreSQL connection string (URL or key=value)", value: (*dsn)(&c.DatabaseURL)},
		{env: "PARLEY_JWT_SECRET", shown: "(required)", help: "key that signs access tokens, at least 32 bytes; --dev generates one if unset", value: (*secret)(c), raw: true},
		{env: "PARLEY_HISTORY_LIMIT", flag: "history-limit", def: strconv.Itoa(model.DefaultPageLimit), help: fmt.Sprintf("messages in a history page when the client gives no limit, 1-%d", model.MaxPageLimit), value: &whole{&c.HistoryLimit, 1, model.MaxPageLimit}},
		{env: "PARLEY_ALLOWED_ORIGINS", flag: "allowed-origins", shown: "(same origin only)", help: "comma-separated browser origins allowed cross-origin, e.g. https://chat.example.com", value: (*origins)(&c.AllowedOrigins)},
		{env: "PARLEY_TRUST_PROXY", flag: "trust-proxy", def: "false", help: "take the client IP from X-Forwarded-For/X-Real-IP (only behind a proxy that sets them): true, or the proxies' addresses/CIDRs, comma-separated", value: (*trustProxy)(c)},
		{env: "PARLEY_LOG_FORMAT", flag: "log-format", shown: "json (text with --dev)", help: "log format: json or text", value: (*logFormat)(&c.LogFormat)},
		{env: "PARLEY_LOG_LEVEL", flag: "log-level", def: "info", help: "log level: debug, info, warn or error", value: (*logLevel)(&c.LogLevel)},
		{env: "PARLEY_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "15s", help: "how long a graceful shutdown waits for requests in flight and closes live connections", value: &duration{&c.ShutdownTimeout, 1, "%q is not a positive duration such as 15s"}},
		{env: "PARLEY_DRAIN_DELAY", flag: "drain-delay", def: "1s", help: "on shutdown, how long /readyz fails before connections are closed, so load balancers stop sending clients", value: &duration{&c.DrainDelay, 0, "%q is not a duration such as 1s (0 for none)"}},
		// Like the JWT secret, the Redis URL may hold a password, so it has no flag.
		{env: "REDIS_URL", shown: "(none: one instance)", help: "Redis URL, e.g. redis://localhost:6379/0; set it to run several instances side by side", value: (*redisURL)(&c.RedisURL)},
		{env: "PARLEY_REDIS_CLUSTER", flag: "redis-cluster", def: "false", help: "REDIS_URL names a Redis Cluster node (more with ?addr=host:port&addr=…); events then use sharded pub/sub", value: (*boolean)(&c.RedisCluster)},
		{env: "PARLEY_REDIS_PREFIX", flag: "redis-prefix", def: "parley:", help: "prefix of every Redis key and channel, so deployments can share one Redis", value: (*text)(&c.RedisPrefix)},
		{env: "PARLEY_PING_INTERVAL", flag: "ping-interval", def: "25s", help: "how often live connections are pinged; one that does not answer is closed", value: &duration{&c.PingInterval, time.Second, "%q is not a duration of at least 1s"}},
		{env: "PARLEY_POST_BATCH_SIZE", flag: "post-batch-size", def: strconv.Itoa(db.DefaultPostBatchSize), help: "most messages stored in one transaction when posts arrive together, 1-1000", value: &whole{&c.PostBatchSize, 1, 1000}},
		{env: "PARLEY_POST_BATCH_WAIT", flag: "post-batch-wait", def: db.DefaultPostBatchWait.String(), help: "under load, the longest a batch of posts waits to grow before it is stored (0 for never); a post to a quiet server never waits", value: &duration{&c.PostBatchWait, 0, "%q is not a duration such as 500us (0 for never)"}},
		{env: "PARLEY_REFRESH_GRACE", flag: "refresh-grace", def: "30s", help: "a used refresh token presented again this soon, before its replacement is used, still gets tokens (a lost response); 0 for none", value: &duration{&c.RefreshGrace, 0, "%q is not a duration such as 30s (0 for none)"}},
		{env: "PARLEY_LOGIN_LIFETIME", flag: "login-lifetime", def: "2160h", help: "how long a login lives from the moment it starts (90 days), however often it is refreshed", value: &duration{&c.LoginLifetime, time.Hour, "%q is not a duration of at least 1h, such as 2160h (90 days)"}},
		{env: "PARLEY_DEBUG_ADDR", flag: "debug-addr", shown: "(off)", help: "loopback host:port of a private listener serving /debug/pprof/, e.g. 127.0.0.1:6060", value: (*loopback)(&c.DebugAddr)},
		// A rate N/PERIOD allows bursts of N and N per PERIOD sustained.
		{env: "PARLEY_RATE_AUTH_IP", flag: "rate-auth-ip", def: api.DefaultLimits.AuthPerIP.String(), help: "logins, and separately registrations, from one client IP (N/PERIOD)", value: &l.AuthPerIP},
		{env: "PARLEY_RATE_AUTH_USERNAME", flag: "rate-auth-username", def: api.DefaultLimits.AuthPerUsername.String(), help: "logins, and separately registrations, naming one username (N/PERIOD)", value: &l.AuthPerUsername},
		{env: "PARLEY_RATE_POST", flag: "rate-post", def: api.DefaultLimits.PostPerUser.String(), help: "messages one user posts: bursts of N, N per PERIOD sustained", value: &l.PostPerUser},
		{env: "PARLEY_RATE_TICKET", flag: "rate-ticket", def: api.DefaultLimits.TicketPerUser.String(), help: "WebSocket tickets one user asks for, one per browser (re)connect (N/PERIOD)", value: &l.TicketPerUser},
		{env: "PARLEY_RATE_DEVICE", flag: "rate-device", def: api.DefaultLimits.DevicePerUser.String(), help: "push devices one user registers (N/PERIOD)", value: &l.DevicePerUser},
		// Background work and push: tasks_config.go.
	}, c.Tasks.settings()...)
}

// allSettings returns the settings table, for help and the tests.
func allSettings() []setting { return new(serveConfig).settings() }

// printSettings writes the settings table for the help text.
func printSettings(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range allSettings() {
		fl := ""
		if s.flag != "" {
			fl = "--" + s.flag
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.env, fl, s.shownDefault(), s.help)
	}
	_ = tw.Flush()
}

// shownDefault is the default as help shows it.
func (s setting) shownDefault() string {
	if s.shown != "" {
		return s.shown
	}
	return s.def
}

// serveConfig is everything serve needs, parsed and checked.
type serveConfig struct {
	Dev             bool
	Addr            string
	DatabaseURL     string
	JWTSecret       []byte
	SecretGenerated bool // no PARLEY_JWT_SECRET in --dev: tokens die with the process
	HistoryLimit    int
	AllowedOrigins  []string
	TrustProxy      bool
	TrustedProxies  []netip.Prefix // with TrustProxy; empty: the peer, whatever its address
	LogFormat       string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	RedisURL        string
	RedisCluster    bool
	RedisPrefix     string
	PingInterval    time.Duration
	PostBatchSize   int
	PostBatchWait   time.Duration
	RefreshGrace    time.Duration
	LoginLifetime   time.Duration
	DebugAddr       string // empty: no debug listener
	Limits          api.Limits
	Tasks           taskConfig
}

// loadServeConfig parses serve's flags and reads the environment through
// getenv; a flag that was given wins over its variable, and a setting given
// neither way takes its default. help reports that -h was asked for and the
// usage printed.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (cfg serveConfig, help bool, err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: text logs, and a generated JWT secret if PARLEY_JWT_SECRET is unset")
	settings := cfg.settings()
	flags := map[string]*flagValue{}
	for _, s := range settings {
		if s.flag != "" {
			_, isBool := s.value.(*boolean)
			if _, ok := s.value.(*trustProxy); ok { // true, or a list
				isBool = true
			}
			v := &flagValue{isBool: isBool}
			flags[s.env] = v
			fs.Var(v, s.flag, s.help+" (env "+s.env+", default "+s.shownDefault()+")")
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley serve [--dev] [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return cfg, help, err
	}

	var errs []error
	for _, s := range settings {
		v := getenv(s.env)
		if f := flags[s.env]; f != nil && f.set {
			v = f.s
		}
		if !s.raw {
			v = strings.TrimSpace(v)
		}
		if v == "" {
			v = s.def
		}
		if v == "" {
			continue
		}
		if err := s.value.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
		}
	}

	// The settings whose absence is not simply a default.
	if cfg.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL: not set: give the PostgreSQL connection string, e.g. postgres://user:pass@localhost:5432/parley?sslmode=disable"))
	}
	switch {
	case cfg.JWTSecret != nil:
	case cfg.Dev:
		cfg.JWTSecret = make([]byte, minSecretBytes)
		_, _ = rand.Read(cfg.JWTSecret) // never fails on Go 1.24+
		cfg.SecretGenerated = true
	case getenv("PARLEY_JWT_SECRET") == "":
		errs = append(errs, fmt.Errorf("PARLEY_JWT_SECRET: not set: serve needs a secret of at least %d bytes to sign tokens (e.g. from `openssl rand -hex 32`), or run `serve --dev` to use a throwaway one", minSecretBytes))
	}
	cfg.Tasks.devKey(cfg.Dev)
	switch {
	case cfg.RedisCluster && cfg.RedisURL == "":
		errs = append(errs, errors.New("PARLEY_REDIS_CLUSTER: needs REDIS_URL, naming a node of the cluster"))
	case !cfg.RedisCluster && cfg.RedisURL != "":
		if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
			errs = append(errs, fmt.Errorf("REDIS_URL: %q is not a Redis URL such as redis://localhost:6379/0 (for a Redis Cluster set PARLEY_REDIS_CLUSTER)", redactURL(cfg.RedisURL)))
		}
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "json"
		if cfg.Dev {
			cfg.LogFormat = "text"
		}
	}

	if len(errs) > 0 {
		return cfg, false, fmt.Errorf("bad configuration:\n  %w", joinIndented(errs))
	}
	return cfg, false, nil
}

// The values settings read. Each error message follows the variable's
// name: "PARLEY_DRAIN_DELAY: "-1s" is not a duration such as 1s (0 for none)".
type (
	text      string
	dsn       string
	redisURL  string
	loopback  string
	logFormat string
	logLevel  slog.Level
	boolean   bool
	origins   []string
	secret    serveConfig // sets JWTSecret
	// trustProxy sets TrustProxy and TrustedProxies.
	trustProxy serveConfig
	whole      struct {
		p        *int
		min, max int
	}
	duration struct {
		p   *time.Duration
		min time.Duration
		bad string // the message, with %q for the value
	}
)

func (t *text) UnmarshalText(b []byte) error { *t = text(b); return nil }
func (t *text) String() string               { return string(*t) }

func (d *dsn) UnmarshalText(b []byte) error { *d = dsn(b); return nil }
func (d *dsn) String() string               { return redactDSN(string(*d)) }

// UnmarshalText accepts a URL of one Redis or of Redis Cluster nodes
// (redis://node1:6379?addr=node2:6379); loadServeConfig then checks it is
// the kind PARLEY_REDIS_CLUSTER says.
func (u *redisURL) UnmarshalText(b []byte) error {
	if _, err := redis.ParseClusterURL(string(b)); err != nil {
		return fmt.Errorf("%q is not a Redis URL such as redis://localhost:6379/0", redactURL(string(b)))
	}
	*u = redisURL(b)
	return nil
}
func (u *redisURL) String() string { return redactURL(string(*u)) }

func (a *loopback) UnmarshalText(b []byte) error {
	if err := checkLoopback(string(b)); err != nil {
		return fmt.Errorf("%q %w", b, err)
	}
	*a = loopback(b)
	return nil
}
func (a *loopback) String() string { return string(*a) }

func (f *logFormat) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(string(b)); v {
	case "json", "text":
		*f = logFormat(v)
		return nil
	default:
		return fmt.Errorf("%q is not json or text", v)
	}
}
func (f *logFormat) String() string { return string(*f) }

func (l *logLevel) UnmarshalText(b []byte) error {
	if err := (*slog.Level)(l).UnmarshalText(b); err != nil {
		return fmt.Errorf("%q is not debug, info, warn or error", b)
	}
	return nil
}
func (l *logLevel) String() string { return slog.Level(*l).String() }

func (v *boolean) UnmarshalText(b []byte) error {
	x, err := strconv.ParseBool(string(b))
	if err != nil {
		return fmt.Errorf("%q is not true or false", b)
	}
	*v = boolean(x)
	return nil
}
func (v *boolean) String() string { return strconv.FormatBool(bool(*v)) }

// UnmarshalText reads true or false, or a comma-separated list of the
// proxies' addresses and CIDR prefixes (an address stands for itself
// alone), which implies true.
func (t *trustProxy) UnmarshalText(b []byte) error {
	if v, err := strconv.ParseBool(string(b)); err == nil {
		t.TrustProxy, t.TrustedProxies = v, nil
		return nil
	}
	var list []netip.Prefix
	for f := range strings.SplitSeq(string(b), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			list = append(list, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return fmt.Errorf("%q is not true, false or a list of proxy addresses such as 10.0.0.0/8,192.0.2.7", b)
		}
		a = a.Unmap()
		list = append(list, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(list) == 0 {
		return fmt.Errorf("%q is not true, false or a list of proxy addresses such as 10.0.0.0/8,192.0.2.7", b)
	}
	t.TrustProxy, t.TrustedProxies = true, list
	return nil
}

func (t *trustProxy) String() string {
	if !t.TrustProxy || len(t.TrustedProxies) == 0 {
		return strconv.FormatBool(t.TrustProxy)
	}
	s := make([]string, len(t.TrustedProxies))
	for i, p := range t.TrustedProxies {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// UnmarshalText reads a comma-separated list of origins; see checkOrigin.
func (o *origins) UnmarshalText(b []byte) error {
	var list []string
	for s := range strings.SplitSeq(string(b), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := checkOrigin(s); err != nil {
			return fmt.Errorf("%q %w", s, err)
		}
		list = append(list, strings.TrimSuffix(s, "/"))
	}
	*o = list
	return nil
}
func (o *origins) String() string {
	if len(*o) == 0 {
		return "same origin only"
	}
	return strings.Join(*o, ",")
}

func (s *secret) UnmarshalText(b []byte) error {
	if len(b) < minSecretBytes {
		return fmt.Errorf("too short: it has %d bytes and needs at least %d (e.g. from `openssl rand -hex 32`)", len(b), minSecretBytes)
	}
	s.JWTSecret = bytes.Clone(b)
	return nil
}

// String never shows the secret, only where it came from.
func (s *secret) String() string {
	if s.SecretGenerated {
		return "generated"
	}
	return "set"
}

func (w *whole) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(string(b))
	if err != nil || n < w.min || n > w.max {
		return fmt.Errorf("%q is not a whole number from %d to %d", b, w.min, w.max)
	}
	*w.p = n
	return nil
}
func (w *whole) String() string { return strconv.Itoa(*w.p) }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < d.min {
		return fmt.Errorf(d.bad, b)
	}
	*d.p = v
	return nil
}
func (d *duration) String() string { return d.p.String() }

// flagValue is a string flag that, for a boolean setting, may also be given
// bare (--trust-proxy means --trust-proxy=true).
type flagValue struct {
	s      string
	set    bool // given on the command line, so it wins over the variable
	isBool bool
}

func (v *flagValue) String() string { return v.s }

func (v *flagValue) Set(s string) error { v.s, v.set = s, true; return nil }

// IsBoolFlag tells the flag package that the value may be left out.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }

// joinIndented joins errs one per line, indented under the heading.
func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// checkOrigin accepts "*" or a bare origin: scheme://host[:port] and nothing
// more, since a browser's Origin header never has a path.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("is not an origin like https://chat.example.com")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be scheme://host[:port] only, with no path, query or user")
	}
	return nil
}

// logAttrs returns the configuration as log attributes, named after the
// variables (PARLEY_LOG_LEVEL is log_level), with the secrets masked.
func (c serveConfig) logAttrs() []any {
	attrs := []any{"dev", c.Dev}
	for _, s := range c.settings() {
		name := strings.ToLower(strings.TrimPrefix(s.env, "PARLEY_"))
		var v any = s.value.String()
		switch x := s.value.(type) { // numbers and switches stay numbers and switches
		case *whole:
			v = *x.p
		case *boolean:
			v = bool(*x)
		}
		attrs = append(attrs, name, v)
	}
	return attrs
}

// redactURL hides the password in a URL such as a Redis URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

var dsnPassword = regexp.MustCompile(`(?i)(password=)('(?:[^'\\]|\\.)*'|[^\s&]*)`)

// redactDSN hides the password in a PostgreSQL connection string, in URL
// form (user:pass@ or ?password=) and in key=value form.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		dsn = u.Redacted()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// newLogger builds the one logger the process uses.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
