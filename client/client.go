package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley/model"
)

// Error is an error response of the API: its stable code, the message meant
// for people, and for EInvalid the problem with each field.
type Error struct {
	Status     int // the HTTP status
	Code       model.Code
	Message    string
	Fields     map[string]string
	RetryAfter time.Duration // with ERateLimited: how long the server asks to wait
}

func (e *Error) Error() string { return e.Message }

// Code returns the API error code in err's chain, or "" when err is not an
// API error (a network failure, say).
func Code(err error) model.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrLoggedOut is returned once the login is over: logged out, revoked
// (a refresh token was used twice) or expired. Log in again.
var ErrLoggedOut = errors.New("the login has ended; log in again")

// Session is a login: the tokens and when the access token expires. Keep it
// (with its refresh token) to stay logged in across runs.
type Session struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"` // when AccessToken stops working
	User         User      `json:"user"`
}

func sessionFrom(t Tokens, now time.Time) Session {
	return Session{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
		Expiry: now.Add(time.Duration(t.ExpiresIn) * time.Second), User: t.User}
}

// SessionStore keeps a Session outside the Client, so that a login survives
// restarts and several processes can share it. Refresh tokens work once: two
// processes that refreshed with the same one would end the login. Update
// therefore runs fn under a lock that other processes sharing the store
// respect, with the newest session the store holds, and stores what fn
// returns.
type SessionStore interface {
	Update(fn func(Session) (Session, error)) error
}

// Options configure a Client. The zero value works.
type Options struct {
	// HTTPClient sends the requests; default: one with a 30 s timeout.
	HTTPClient *http.Client
	// Session is a login to resume; empty to log in or register first.
	Session Session
	// Store, when set, gets every new session (login, register, refresh)
	// and is where refreshes look for a session another process renewed.
	Store SessionStore
}

// Client talks to one Parley server over REST and its event channel. It is
// safe for use by several goroutines at once: they share one login, and
// when the access token is about to expire exactly one of them renews it.
type Client struct {
	base  *url.URL
	http  *http.Client
	store SessionStore

	mu      sync.Mutex // guards session
	session Session

	refreshMu sync.Mutex // held while renewing, so only one renewal runs
}

// refreshEarly is how long before its expiry an access token is renewed, so
// that it does not expire in flight.
const refreshEarly = 30 * time.Second

// New returns a Client for the server at baseURL (such as
// "https://chat.example.com").
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want an http:// or https:// URL", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, http: hc, store: opts.Store, session: opts.Session}, nil
}

// Session returns the current login.
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// setSession adopts s and hands it to the store.
func (c *Client) setSession(s Session) error {
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
	if c.store == nil {
		return nil
	}
	return c.store.Update(func(Session) (Session, error) { return s, nil })
}

// accessToken returns the session whose access token is valid for at least
// refreshEarly, renewing the login when needed.
func (c *Client) accessToken(ctx context.Context) (Session, error) {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s.AccessToken == "" && s.RefreshToken == "" {
		return Session{}, ErrLoggedOut
	}
	if s.AccessToken != "" && time.Until(s.Expiry) > refreshEarly {
		return s, nil
	}
	return c.renew(ctx, s.RefreshToken)
}

// renew renews the login whose refresh token was seen, unless another
// goroutine (or process, via the store) has renewed it already: refresh
// tokens are compared, not access tokens, since two access tokens issued
// in the same second can be equal. It returns ErrLoggedOut when the server
// refuses the refresh token.
func (c *Client) renew(ctx context.Context, seen string) (Session, error) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s.RefreshToken != seen && s.AccessToken != "" && time.Until(s.Expiry) > refreshEarly {
		return s, nil // renewed while we waited for the lock
	}
	refresh := func(cur Session) (Session, error) {
		if cur.RefreshToken != seen && cur.AccessToken != "" && time.Until(cur.Expiry) > refreshEarly {
			return cur, nil // another process renewed it
		}
		if cur.RefreshToken == "" {
			return Session{}, ErrLoggedOut
		}
		var t Tokens
		err := c.do(ctx, "", http.MethodPost, "/api/v1/auth/refresh", nil, RefreshRequest{RefreshToken: cur.RefreshToken}, &t)
		if Code(err) == model.EUnauthenticated {
			return Session{}, ErrLoggedOut
		}
		if err != nil {
			return cur, err
		}
		return sessionFrom(t, time.Now()), nil
	}
	var next Session
	var err error
	if c.store != nil {
		err = c.store.Update(func(cur Session) (Session, error) {
			if cur.RefreshToken == "" {
				cur = s // a store that is empty yet: ours is the newest
			}
			next, err = refresh(cur)
			if errors.Is(err, ErrLoggedOut) {
				return Session{}, nil // remember that the login is over
			}
			if err != nil {
				return cur, err
			}
			return next, nil
		})
		if err == nil && next.RefreshToken == "" {
			err = ErrLoggedOut
		}
	} else {
		next, err = refresh(s)
	}
	if errors.Is(err, ErrLoggedOut) {
		c.mu.Lock()
		c.session = Session{}
		c.mu.Unlock()
		return Session{}, ErrLoggedOut
	}
	if err != nil {
		return Session{}, fmt.Errorf("renew the login: %w", err)
	}
	c.mu.Lock()
	c.session = next
	c.mu.Unlock()
	return next, nil
}

// call sends an authenticated request. When the server rejects the access
// token (it expired early, or the clock is off) call renews the login once
// and retries.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	s, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	err = c.do(ctx, s.AccessToken, method, path, query, in, out)
	if Code(err) != model.EUnauthenticated {
		return err
	}
	if s, err = c.renew(ctx, s.RefreshToken); err != nil {
		return err
	}
	err = c.do(ctx, s.AccessToken, method, path, query, in, out)
	if Code(err) == model.EUnauthenticated {
		return ErrLoggedOut
	}
	return err
}

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 8 << 20

// do sends one request and decodes a 2xx JSON answer into out, or returns
// the *Error the server sent. Requests that are safe to repeat (every
// method but POST; a POST retried by the caller carries an idempotency
// key) are retried twice on a transport failure.
func (c *Client) do(ctx context.Context, token, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	tries := 3
	if _, keyed := in.(MessageRequest); method == http.MethodPost && !keyed {
		tries = 1
	}
	var resp *http.Response
	for try := 1; ; try++ {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err = c.http.Do(req)
		if err == nil {
			break
		}
		if try == tries || ctx.Err() != nil {
			return &NetError{Server: c.base.Host, Err: err}
		}
		select {
		case <-ctx.Done():
			return &NetError{Server: c.base.Host, Err: ctx.Err()}
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return &NetError{Server: c.base.Host, Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(data) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
		return nil
	}
	return responseError(resp, data)
}

// responseError turns an error response into an *Error. A body that is not
// the API's Error (a proxy's error page, say) still gives a readable one.
func responseError(resp *http.Response, data []byte) error {
	e := &Error{Status: resp.StatusCode}
	var b errorBody
	if json.Unmarshal(data, &b) == nil && b.Error.Code != "" {
		e.Code, e.Message, e.Fields = b.Error.Code, b.Error.Message, b.Error.Fields
	} else {
		e.Code = codeForStatus(resp.StatusCode)
		e.Message = fmt.Sprintf("the server answered %s", resp.Status)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func codeForStatus(status int) model.Code {
	switch status {
	case http.StatusUnauthorized:
		return model.EUnauthenticated
	case http.StatusForbidden:
		return model.EForbidden
	case http.StatusNotFound:
		return model.ENotFound
	case http.StatusTooManyRequests:
		return model.ERateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return model.EUnavailable
	}
	if status >= 500 {
		return model.EInternal
	}
	return model.EInvalid
}

// NetError is a failure to reach the server at all: refused, timed out, cut.
type NetError struct {
	Server string
	Err    error
}

func (e *NetError) Error() string { return "cannot reach " + e.Server + ": " + shortNetErr(e.Err) }

func (e *NetError) Unwrap() error { return e.Err }

// shortNetErr drops the "Get \"http://…\":" prefix net/http puts in front
// of the cause, which says nothing the caller does not know.
func shortNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.HasPrefix(s, "dial ") {
		s = s[i+2:]
	}
	return s
}

// newClientMsgID returns a random idempotency key.
func newClientMsgID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
