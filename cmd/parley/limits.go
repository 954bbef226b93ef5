package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"parley/api"
)

// rate is a rate-limit setting: at most N events per Per.
type rate struct {
	N   int
	Per time.Duration
}

func (r rate) String() string { return fmt.Sprintf("%d/%s", r.N, shortDuration(r.Per)) }

// parseRate reads "N/PERIOD" such as "10/1m", "5/30s" or "100/1h".
func parseRate(s string) (rate, error) {
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return rate{}, fmt.Errorf("%q is not N/PERIOD such as 10/1m", s)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 1 {
		return rate{}, fmt.Errorf("%q: the count must be a whole number above 0", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return rate{}, fmt.Errorf("%q: the period must be a positive duration such as 1m", s)
	}
	return rate{N: count, Per: d}, nil
}

// shortDuration prints 1m rather than time.Duration's 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// limits are the rate limits serve passes to api. serve always passes all
// three, so the defaults here (and in the help) are the ones in force.
type limits struct {
	AuthPerIP       rate
	AuthPerUsername rate
	PostPerUser     rate
}

// limitSetting is a rate-limit setting and where its value goes.
type limitSetting struct {
	setting
	field func(*limits) *rate
}

// limitSettings lists the rate limits; init fills in their defaults from
// defaultLimits. A rate N/PERIOD allows bursts of N and N per PERIOD
// sustained.
var limitSettings = []limitSetting{
	{setting{"PARLEY_RATE_AUTH_IP", "rate-auth-ip", "", "logins, and separately registrations, from one client IP (N/PERIOD)"},
		func(l *limits) *rate { return &l.AuthPerIP }},
	{setting{"PARLEY_RATE_AUTH_USERNAME", "rate-auth-username", "", "logins, and separately registrations, naming one username (N/PERIOD)"},
		func(l *limits) *rate { return &l.AuthPerUsername }},
	{setting{"PARLEY_RATE_POST", "rate-post", "", "messages one user posts: bursts of N, N per PERIOD sustained"},
		func(l *limits) *rate { return &l.PostPerUser }},
}

func defaultLimits() limits {
	return limits{
		AuthPerIP:       rate{30, time.Minute},
		AuthPerUsername: rate{10, time.Minute},
		PostPerUser:     rate{20, 2 * time.Second},
	}
}

func init() {
	d := defaultLimits()
	for i := range limitSettings {
		limitSettings[i].def = limitSettings[i].field(&d).String()
	}
}

// loadLimits reads the rate-limit settings through lookup, appending any
// problem to errs.
func loadLimits(lookup func(string) string, errs []error) (limits, []error) {
	l := defaultLimits()
	for _, s := range limitSettings {
		v := lookup(s.env)
		if v == "" {
			continue
		}
		r, err := parseRate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			continue
		}
		*s.field(&l) = r
	}
	return l, errs
}

func (l limits) logAttrs() []any {
	var attrs []any
	for _, s := range limitSettings {
		attrs = append(attrs, strings.ToLower(strings.TrimPrefix(s.env, "PARLEY_")), s.field(&l).String())
	}
	return attrs
}

// api converts the limits to what api.NewServer takes.
func (l limits) api() api.Limits {
	return api.Limits{
		AuthPerIP:       api.Rate{N: l.AuthPerIP.N, Per: l.AuthPerIP.Per},
		AuthPerUsername: api.Rate{N: l.AuthPerUsername.N, Per: l.AuthPerUsername.Per},
		PostPerUser:     api.Rate{N: l.PostPerUser.N, Per: l.PostPerUser.Per},
	}
}
