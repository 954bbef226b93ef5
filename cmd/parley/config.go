package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/model"
)

// minSecretBytes is the shortest JWT secret serve accepts: HS256 wants a key
// at least as long as its 32-byte output.
const minSecretBytes = auth.MinSecretLen

// A setting is one configuration value: an environment variable and,
// unless it is a secret, a flag of serve that overrides it. The table drives
// the help text, so the two cannot drift apart.
type setting struct {
	env  string
	flag string // empty for secrets: flags show up in ps
	def  string // as shown in help
	help string
}

// settings lists every setting serve reads, in the order the help shows them.
var settings = []setting{
	{"PARLEY_ADDR", "addr", ":8080", "address to listen on, host:port (port 0 picks a free one)"},
	{"DATABASE_URL", "", "(required)", "PostgreSQL connection string (URL or key=value)"},
	{"PARLEY_JWT_SECRET", "", "(required)", "key that signs access tokens, at least 32 bytes; --dev generates one if unset"},
	{"PARLEY_HISTORY_LIMIT", "history-limit", "15", "messages in a history page when the client gives no limit, 1-100"},
	{"PARLEY_ALLOWED_ORIGINS", "allowed-origins", "(same origin only)", "comma-separated browser origins allowed cross-origin, e.g. https://chat.example.com"},
	{"PARLEY_TRUST_PROXY", "trust-proxy", "false", "take the client IP from X-Forwarded-For/X-Real-IP (only behind a proxy that sets them)"},
	{"PARLEY_LOG_FORMAT", "log-format", "json (text with --dev)", "log format: json or text"},
	{"PARLEY_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn or error"},
	{"PARLEY_SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long a graceful shutdown waits for requests in flight and closes live connections"},
	{"PARLEY_DRAIN_DELAY", "drain-delay", "1s", "on shutdown, how long /readyz fails before connections are closed, so load balancers stop sending clients"},
	{"REDIS_URL", "", "(none: one instance)", "Redis URL, e.g. redis://localhost:6379/0; set it to run several instances side by side"},
	{"PARLEY_REDIS_CLUSTER", "redis-cluster", "false", "REDIS_URL names a Redis Cluster node (more with ?addr=host:port&addr=…); events then use sharded pub/sub"},
	{"PARLEY_REDIS_PREFIX", "redis-prefix", "parley:", "prefix of every Redis key and channel, so deployments can share one Redis"},
	{"PARLEY_PING_INTERVAL", "ping-interval", "25s", "how often live connections are pinged; one that does not answer is closed"},
}

// printSettings writes the settings table for the help text.
func printSettings(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range allSettings() {
		fl := ""
		if s.flag != "" {
			fl = "--" + s.flag
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.env, fl, s.def, s.help)
	}
	_ = tw.Flush()
}

// allSettings returns the general settings followed by the rate limits.
func allSettings() []setting {
	all := append([]setting(nil), settings...)
	for _, l := range limitSettings {
		all = append(all, l.setting)
	}
	return all
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
	LogFormat       string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	RedisURL        string
	RedisCluster    bool
	RedisPrefix     string
	PingInterval    time.Duration
	Limits          limits
}

// loadServeConfig parses serve's flags and reads the environment through
// getenv; a flag that was given wins over its variable. help reports that
// -h was asked for and the usage printed.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (cfg serveConfig, help bool, err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: text logs, and a generated JWT secret if PARLEY_JWT_SECRET is unset")
	flags := map[string]*flagValue{}
	for _, s := range allSettings() {
		if s.flag != "" {
			v := &flagValue{isBool: s.def == "false"}
			flags[s.env] = v
			fs.Var(v, s.flag, s.help+" (env "+s.env+", default "+s.def+")")
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley serve [--dev] [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args); help || err != nil {
		return cfg, help, err
	}
	lookup := func(env string) string {
		if f := flags[env]; f != nil && f.set {
			return strings.TrimSpace(f.s)
		}
		return strings.TrimSpace(getenv(env))
	}

	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}

	cfg.Addr = lookup("PARLEY_ADDR")
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}

	cfg.DatabaseURL = lookup("DATABASE_URL")
	if cfg.DatabaseURL == "" {
		bad("DATABASE_URL", "not set: give the PostgreSQL connection string, e.g. postgres://user:pass@localhost:5432/parley?sslmode=disable")
	}

	// The secret is taken as is, not trimmed: every byte of it is key.
	secret := getenv("PARLEY_JWT_SECRET")
	switch {
	case secret == "" && cfg.Dev:
		cfg.JWTSecret = make([]byte, minSecretBytes)
		_, _ = rand.Read(cfg.JWTSecret) // never fails on Go 1.24+
		cfg.SecretGenerated = true
	case secret == "":
		bad("PARLEY_JWT_SECRET", "not set: serve needs a secret of at least %d bytes to sign tokens (e.g. from `openssl rand -hex 32`), or run `serve --dev` to use a throwaway one", minSecretBytes)
	case len(secret) < minSecretBytes:
		bad("PARLEY_JWT_SECRET", "too short: it has %d bytes and needs at least %d (e.g. from `openssl rand -hex 32`)", len(secret), minSecretBytes)
	default:
		cfg.JWTSecret = []byte(secret)
	}

	cfg.HistoryLimit = 15
	if v := lookup("PARLEY_HISTORY_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > model.MaxPageLimit {
			bad("PARLEY_HISTORY_LIMIT", "%q is not a whole number from 1 to %d", v, model.MaxPageLimit)
		}
		cfg.HistoryLimit = n
	}

	if v := lookup("PARLEY_ALLOWED_ORIGINS"); v != "" {
		for o := range strings.SplitSeq(v, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			if err := checkOrigin(o); err != nil {
				bad("PARLEY_ALLOWED_ORIGINS", "%q %v", o, err)
				continue
			}
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}

	if v := lookup("PARLEY_TRUST_PROXY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("PARLEY_TRUST_PROXY", "%q is not true or false", v)
		}
		cfg.TrustProxy = b
	}

	cfg.LogFormat = "json"
	if cfg.Dev {
		cfg.LogFormat = "text"
	}
	if v := lookup("PARLEY_LOG_FORMAT"); v != "" {
		switch v = strings.ToLower(v); v {
		case "json", "text":
			cfg.LogFormat = v
		default:
			bad("PARLEY_LOG_FORMAT", "%q is not json or text", v)
		}
	}

	if v := lookup("PARLEY_LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("PARLEY_LOG_LEVEL", "%q is not debug, info, warn or error", v)
		}
	}

	cfg.ShutdownTimeout = 15 * time.Second
	if v := lookup("PARLEY_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("PARLEY_SHUTDOWN_TIMEOUT", "%q is not a positive duration such as 15s", v)
		}
		cfg.ShutdownTimeout = d
	}

	cfg.DrainDelay = time.Second
	if v := lookup("PARLEY_DRAIN_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("PARLEY_DRAIN_DELAY", "%q is not a duration such as 1s (0 for none)", v)
		}
		cfg.DrainDelay = d
	}

	// Like the JWT secret, the Redis URL may hold a password, so it has no flag.
	cfg.RedisURL = strings.TrimSpace(getenv("REDIS_URL"))
	if v := lookup("PARLEY_REDIS_CLUSTER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("PARLEY_REDIS_CLUSTER", "%q is not true or false", v)
		}
		cfg.RedisCluster = b
	}
	if cfg.RedisURL != "" {
		if cfg.RedisCluster {
			if _, err := redis.ParseClusterURL(cfg.RedisURL); err != nil {
				bad("REDIS_URL", "%q is not a Redis Cluster URL such as redis://node1:6379?addr=node2:6379", redactURL(cfg.RedisURL))
			}
		} else if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
			bad("REDIS_URL", "%q is not a Redis URL such as redis://localhost:6379/0", redactURL(cfg.RedisURL))
		}
	} else if cfg.RedisCluster {
		bad("PARLEY_REDIS_CLUSTER", "needs REDIS_URL")
	}
	cfg.RedisPrefix = "parley:"
	if v := lookup("PARLEY_REDIS_PREFIX"); v != "" {
		cfg.RedisPrefix = v
	}

	cfg.PingInterval = 25 * time.Second
	if v := lookup("PARLEY_PING_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad("PARLEY_PING_INTERVAL", "%q is not a duration of at least 1s", v)
		}
		cfg.PingInterval = d
	}

	cfg.Limits, errs = loadLimits(lookup, errs)

	if len(errs) > 0 {
		return cfg, false, fmt.Errorf("bad configuration:\n  %w", joinIndented(errs))
	}
	return cfg, false, nil
}

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

// logAttrs returns the configuration as log attributes, with the secrets
// masked.
func (c serveConfig) logAttrs() []any {
	secret := "set"
	if c.SecretGenerated {
		secret = "generated"
	}
	origins := "same origin only"
	if len(c.AllowedOrigins) > 0 {
		origins = strings.Join(c.AllowedOrigins, ",")
	}
	attrs := []any{
		"dev", c.Dev,
		"addr", c.Addr,
		"database_url", redactDSN(c.DatabaseURL),
		"jwt_secret", secret,
		"history_limit", c.HistoryLimit,
		"allowed_origins", origins,
		"trust_proxy", c.TrustProxy,
		"log_format", c.LogFormat,
		"log_level", c.LogLevel.String(),
		"shutdown_timeout", c.ShutdownTimeout.String(),
		"drain_delay", c.DrainDelay.String(),
		"redis_url", redactURL(c.RedisURL),
		"redis_cluster", c.RedisCluster,
		"redis_prefix", c.RedisPrefix,
		"ping_interval", c.PingInterval.String(),
	}
	return append(attrs, c.Limits.logAttrs()...)
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
