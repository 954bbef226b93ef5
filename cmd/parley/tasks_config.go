package main

import (
	"fmt"
	"strings"
	"time"

	"parley/jobs"
	"parley/push"
)

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

// settings are the rows of the settings table for background work and
// push, read by serve and by worker.
func (t *taskConfig) settings() []setting {
	return []setting{
		{env: "PARLEY_RUN_TASKS", flag: "run-tasks", def: "true", help: "serve runs the background tasks itself; set false where `parley worker` processes run them", value: (*boolean)(&t.RunTasks)},
		{env: "PARLEY_TASK_CONCURRENCY", flag: "task-concurrency", def: "10", help: "background tasks one process runs at once, 1-1000", value: &whole{&t.Concurrency, 1, 1000}},
		{env: "PARLEY_TASK_MAX_ATTEMPTS", flag: "task-max-attempts", def: "10", help: "runs of a failing task before it goes to the dead letters (`parley tasks list`), 1-100", value: &whole{&t.MaxAttempts, 1, 100}},
		{env: "PARLEY_PUSH", flag: "push", def: "true", help: "push new messages to the devices of members with no live connection", value: (*boolean)(&t.Push)},
		{env: "PARLEY_PUSH_COLLAPSE", flag: "push-collapse", def: "2s", help: "how long a push waits for more messages to the same device, which then ride on it", value: &duration{&t.PushCollapse, time.Millisecond, "%q is not a duration of at least 1ms, such as 2s"}},
		{env: "PARLEY_PUSH_RETRY_BASE", flag: "push-retry-base", def: "5s", help: "wait before a failed push's first retry; doubled for each next one, up to 1h", value: &duration{&t.PushRetryBase, time.Millisecond, "%q is not a duration of at least 1ms, such as 5s"}},
		{env: "PARLEY_PUSH_ALLOW_LOOPBACK_HTTP", flag: "push-allow-loopback-http", def: "false", help: "accept device endpoints on http://127.0.0.1 (tests only: endpoints must be https)", value: (*boolean)(&t.AllowLoopbackHTTP)},
		{env: "PARLEY_VAPID_PRIVATE_KEY", shown: "(none: Web Push off; --dev generates one)", help: "the server's VAPID key for Web Push, base64url (`parley vapid-key` makes one); the same on every instance and worker", value: (*vapidKey)(t)},
		{env: "PARLEY_VAPID_SUBJECT", flag: "vapid-subject", def: "mailto:parley@localhost", help: "how push services reach the operator: mailto: address or https URL", value: (*vapidSubject)(&t.VAPIDSubject)},
		{env: "PARLEY_RETENTION_INTERVAL", flag: "retention-interval", def: "1h", help: "how often messages past their channel's retention are deleted", value: &duration{&t.RetentionInterval, time.Second, "%q is not a duration of at least 1s, such as 1h"}},
	}
}

// defaultTaskConfig is the configuration with no task setting given.
func defaultTaskConfig() taskConfig {
	var t taskConfig
	for _, s := range t.settings() {
		if s.def != "" {
			_ = s.value.UnmarshalText([]byte(s.def))
		}
	}
	return t
}

// devKey gives --dev a throwaway VAPID key when none is set.
func (t *taskConfig) devKey(dev bool) {
	if dev && t.VAPIDPrivateKey == "" {
		t.VAPIDPrivateKey, _ = push.GenerateVAPIDKey()
		t.VAPIDGenerated = true
	}
}

type (
	vapidKey     taskConfig // sets VAPIDPrivateKey
	vapidSubject string
)

func (k *vapidKey) UnmarshalText(b []byte) error {
	if _, err := push.VAPIDPublicKey(string(b)); err != nil {
		return fmt.Errorf("%w (`parley vapid-key` makes one)", err)
	}
	k.VAPIDPrivateKey = string(b)
	return nil
}

func (k *vapidKey) String() string {
	switch {
	case k.VAPIDGenerated:
		return "generated"
	case k.VAPIDPrivateKey != "":
		return "set"
	}
	return "none: web push off"
}

func (s *vapidSubject) UnmarshalText(b []byte) error {
	v := string(b)
	if !strings.HasPrefix(v, "mailto:") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("%q is not a mailto: address or an https URL", v)
	}
	*s = vapidSubject(v)
	return nil
}
func (s *vapidSubject) String() string { return string(*s) }

// jobs returns the queue's configuration.
func (t taskConfig) jobs() jobs.Config {
	return jobs.Config{Concurrency: t.Concurrency, MaxAttempts: t.MaxAttempts, RetryBase: t.PushRetryBase,
		CollapseWindow: t.PushCollapse, RetentionInterval: t.RetentionInterval}
}

// push returns the push sender's configuration.
func (t taskConfig) push() push.Config {
	return push.Config{VAPIDPrivateKey: t.VAPIDPrivateKey, Subject: t.VAPIDSubject, AllowLoopbackHTTP: t.AllowLoopbackHTTP}
}
