package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"parley/jobs"
	"parley/push"
)

// taskSettings are the settings of background work and push, read by serve
// and by worker.
var taskSettings = []setting{
	{"PARLEY_RUN_TASKS", "run-tasks", "true", "serve runs the background tasks itself; set false where `parley worker` processes run them"},
	{"PARLEY_TASK_CONCURRENCY", "task-concurrency", "10", "background tasks one process runs at once"},
	{"PARLEY_TASK_MAX_ATTEMPTS", "task-max-attempts", "10", "runs of a failing task before it goes to the dead letters (`parley tasks list`)"},
	{"PARLEY_PUSH", "push", "true", "push new messages to the devices of members with no live connection"},
	{"PARLEY_PUSH_COLLAPSE", "push-collapse", "2s", "how long a push waits for more messages to the same device, which then ride on it"},
	{"PARLEY_PUSH_RETRY_BASE", "push-retry-base", "5s", "wait before a failed push's first retry; doubled for each next one, up to 1h"},
	{"PARLEY_PUSH_ALLOW_LOOPBACK_HTTP", "push-allow-loopback-http", "false", "accept device endpoints on http://127.0.0.1 (tests only: endpoints must be https)"},
	{"PARLEY_VAPID_PRIVATE_KEY", "", "(none: Web Push off; --dev generates one)", "the server's VAPID key for Web Push, base64url (`parley vapid-key` makes one); the same on every instance and worker"},
	{"PARLEY_VAPID_SUBJECT", "vapid-subject", "mailto:parley@localhost", "how push services reach the operator: mailto: address or https URL"},
	{"PARLEY_RETENTION_INTERVAL", "retention-interval", "1h", "how often messages past their channel's retention are deleted"},
}

// taskConfig is what serve and worker need for background work and push.
type taskConfig struct {
	RunTasks          bool
	Concurrency       int
	MaxAttempts       int
	Push              bool
	PushCollapse      time.Duration
	PushRetryBase     time.Duration
	AllowLoopbackHTTP bool
	VAPIDPrivateKey   string
	VAPIDGenerated    bool // --dev without PARLEY_VAPID_PRIVATE_KEY: subscriptions die with the process
	VAPIDSubject      string
	RetentionInterval time.Duration
}

// defaultTaskConfig is the configuration with no task setting given; the
// defaults in taskSettings say the same.
func defaultTaskConfig() taskConfig {
	return taskConfig{RunTasks: true, Concurrency: 10, MaxAttempts: 10, Push: true, PushCollapse: 2 * time.Second,
		PushRetryBase: 5 * time.Second, VAPIDSubject: "mailto:parley@localhost", RetentionInterval: time.Hour}
}

// loadTaskConfig reads the task settings through lookup (the secret
// through getenv), appending any problem to errs.
func loadTaskConfig(lookup, getenv func(string) string, dev bool, errs []error) (taskConfig, []error) {
	c := defaultTaskConfig()
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	boolean := func(env string, to *bool) {
		if v := lookup(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(env, "%q is not true or false", v)
			}
			*to = b
		}
	}
	count := func(env string, to *int, hi int) {
		if v := lookup(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > hi {
				bad(env, "%q is not a whole number from 1 to %d", v, hi)
			}
			*to = n
		}
	}
	duration := func(env string, to *time.Duration, lo time.Duration) {
		if v := lookup(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < lo {
				bad(env, "%q is not a duration of at least %s", v, lo)
			}
			*to = d
		}
	}
	boolean("PARLEY_RUN_TASKS", &c.RunTasks)
	count("PARLEY_TASK_CONCURRENCY", &c.Concurrency, 1000)
	count("PARLEY_TASK_MAX_ATTEMPTS", &c.MaxAttempts, 100)
	boolean("PARLEY_PUSH", &c.Push)
	duration("PARLEY_PUSH_COLLAPSE", &c.PushCollapse, time.Millisecond)
	duration("PARLEY_PUSH_RETRY_BASE", &c.PushRetryBase, time.Millisecond)
	boolean("PARLEY_PUSH_ALLOW_LOOPBACK_HTTP", &c.AllowLoopbackHTTP)
	duration("PARLEY_RETENTION_INTERVAL", &c.RetentionInterval, time.Second)
	if v := lookup("PARLEY_VAPID_SUBJECT"); v != "" {
		if !strings.HasPrefix(v, "mailto:") && !strings.HasPrefix(v, "https://") {
			bad("PARLEY_VAPID_SUBJECT", "%q is not a mailto: address or an https URL", v)
		}
		c.VAPIDSubject = v
	}
	// A secret: taken as is, never a flag.
	c.VAPIDPrivateKey = strings.TrimSpace(getenv("PARLEY_VAPID_PRIVATE_KEY"))
	switch {
	case c.VAPIDPrivateKey != "":
		if _, err := push.VAPIDPublicKey(c.VAPIDPrivateKey); err != nil {
			bad("PARLEY_VAPID_PRIVATE_KEY", "%v (`parley vapid-key` makes one)", err)
		}
	case dev:
		c.VAPIDPrivateKey, _ = push.GenerateVAPIDKey()
		c.VAPIDGenerated = true
	}
	return c, errs
}

// jobs returns the queue's configuration.
func (c taskConfig) jobs() jobs.Config {
	return jobs.Config{Concurrency: c.Concurrency, MaxAttempts: c.MaxAttempts, RetryBase: c.PushRetryBase,
		CollapseWindow: c.PushCollapse, RetentionInterval: c.RetentionInterval}
}

// push returns the push sender's configuration.
func (c taskConfig) push() push.Config {
	return push.Config{VAPIDPrivateKey: c.VAPIDPrivateKey, Subject: c.VAPIDSubject, AllowLoopbackHTTP: c.AllowLoopbackHTTP}
}

func (c taskConfig) logAttrs() []any {
	vapid := "none: web push off"
	switch {
	case c.VAPIDGenerated:
		vapid = "generated"
	case c.VAPIDPrivateKey != "":
		vapid = "set"
	}
	return []any{
		"run_tasks", c.RunTasks, "task_concurrency", c.Concurrency, "task_max_attempts", c.MaxAttempts,
		"push", c.Push, "push_collapse", c.PushCollapse.String(), "push_retry_base", c.PushRetryBase.String(),
		"push_allow_loopback_http", c.AllowLoopbackHTTP, "vapid_private_key", vapid, "vapid_subject", c.VAPIDSubject,
		"retention_interval", c.RetentionInterval.String(),
	}
}
