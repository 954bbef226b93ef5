// Package push delivers pushes to devices that have no live connection:
// Web Push (RFC 8030) with the payload encrypted to the subscription's keys
// (RFC 8291) and signed with the server's VAPID key (RFC 8292), through
// github.com/SherClockHolmes/webpush-go; and UnifiedPush, a plain HTTP POST
// of the payload to the device's endpoint.
//
// It imports model only. It makes requests to URLs that users chose, so its
// HTTP client refuses private, loopback and link-local addresses (unless
// Config.AllowLoopbackHTTP, for tests, admits loopback) and never follows a
// redirect.
package push

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"parley/model"
)

// Config configures a Sender. Zero values mean the defaults stated.
type Config struct {
	// VAPIDPrivateKey is the server's VAPID key: a P-256 private key as
	// base64url (GenerateVAPIDKey makes one). Empty disables Web Push.
	VAPIDPrivateKey string
	// Subject identifies the operator to push services: an https URL or an
	// e-mail address. Default "mailto:parley@localhost".
	Subject string
	// AllowLoopbackHTTP lets endpoints be http on a loopback address, for
	// tests. Default false: https only, and never to a non-public address.
	AllowLoopbackHTTP bool
	// TTL is how long a push service keeps a push for a device that is
	// offline. Default 24 h.
	TTL time.Duration
	// Timeout bounds one delivery. Default 10 s.
	Timeout time.Duration
}

// Topic is the Web Push Topic of every push: a push service keeps only the
// newest undelivered push of one topic, so a device that was offline
// during a burst wakes to one push, not a pile.
const Topic = "new-messages"

// ErrGone reports that the endpoint answered 404 or 410: the subscription
// has ended, and the device should be removed.
var ErrGone = errors.New("push endpoint gone")

// PermanentError is a failure that retrying cannot mend, such as a push
// service refusing the request as malformed (4xx other than 404, 408, 410,
// 429).
type PermanentError struct{ Status int }

func (e *PermanentError) Error() string {
	return fmt.Sprintf("push endpoint refused the push with status %d", e.Status)
}

// Sender sends pushes. It is safe for concurrent use.
type Sender struct {
	cfg       Config
	publicKey string // base64url, derived from VAPIDPrivateKey
	client    *http.Client
}

// New returns a Sender, or an error if cfg.VAPIDPrivateKey is set but is
// not a P-256 private key.
func New(cfg Config) (*Sender, error) {
	if cfg.Subject == "" {
		cfg.Subject = "mailto:parley@localhost"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	s := &Sender{cfg: cfg, client: newClient(cfg)}
	if cfg.VAPIDPrivateKey != "" {
		pub, err := VAPIDPublicKey(cfg.VAPIDPrivateKey)
		if err != nil {
			return nil, err
		}
		s.publicKey = pub
	}
	return s, nil
}

// GenerateVAPIDKey returns a new VAPID private key, base64url.
func GenerateVAPIDKey() (string, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(k.Bytes()), nil
}

// VAPIDPublicKey returns the public key of a VAPID private key, base64url
// as browsers take it for PushManager.subscribe's applicationServerKey.
func VAPIDPublicKey(private string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(private, "="))
	if err != nil {
		return "", errors.New("VAPID private key: not base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(b)
	if err != nil {
		return "", errors.New("VAPID private key: not a P-256 private key")
	}
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// PublicKey returns the VAPID public key, or "" when Web Push is disabled.
func (s *Sender) PublicKey() string { return s.publicKey }

// Body is the JSON a push carries: which message arrived, never its text;
// the sender's name only if the device's user opted in. asyncapi.yaml
// describes it (PushMessage).
func Body(pm model.PushMessage, includeSender bool) []byte {
	type body struct {
		Type           string               `json:"type"`
		ConversationID model.ConversationID `json:"conversation_id"`
		MessageID      model.MessageID      `json:"message_id"`
		Seq            int64                `json:"seq"`
		SenderName     string               `json:"sender_name,omitempty"`
	}
	b := body{Type: "message.created", ConversationID: pm.ConversationID, MessageID: pm.MessageID, Seq: pm.Seq}
	if includeSender {
		b.SenderName = pm.SenderName
	}
	out, _ := json.Marshal(b) // cannot fail: numbers and strings
	return out
}

// Send delivers body to d. It returns ErrGone if the endpoint no longer
// exists, a *PermanentError if it refused the push for good, and any other
// error for a failure worth retrying.
func (s *Sender) Send(ctx context.Context, d model.Device, body []byte) error {
	if err := model.ValidateEndpoint(d.Endpoint, s.cfg.AllowLoopbackHTTP); err != nil {
		return &PermanentError{Status: 0}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var resp *http.Response
	var err error
	switch d.Kind {
	case model.DeviceWebPush:
		if s.publicKey == "" {
			return errors.New("web push is not configured: no VAPID key")
		}
		resp, err = webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{
			Endpoint: d.Endpoint, Keys: webpush.Keys{P256dh: d.P256DH, Auth: d.Auth},
		}, &webpush.Options{
			HTTPClient:      s.client,
			Subscriber:      strings.TrimPrefix(s.cfg.Subject, "mailto:"), // webpush-go adds mailto: itself
			Topic:           Topic,
			TTL:             int(s.cfg.TTL / time.Second),
			Urgency:         webpush.UrgencyHigh, // a message for a person: wake the device
			VAPIDPublicKey:  s.publicKey,
			VAPIDPrivateKey: s.cfg.VAPIDPrivateKey,
		})
	case model.DeviceUnifiedPush:
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			resp, err = s.client.Do(req)
		}
	default:
		return &PermanentError{}
	}
	if err != nil {
		return fmt.Errorf("send push: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return ErrGone
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("send push: endpoint answered %d", code)
	default:
		return &PermanentError{Status: code}
	}
}

// newClient returns the HTTP client for endpoints users chose: it dials only
// public addresses (and loopback if cfg allows), checked after DNS
// resolution so a name cannot smuggle in an internal address, and does not
// follow redirects.
func newClient(cfg Config) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil {
				return fmt.Errorf("push: dial %s: not an IP address", address)
			}
			if ip.IsLoopback() && cfg.AllowLoopbackHTTP {
				return nil
			}
			if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() {
				return fmt.Errorf("push: refusing to dial non-public address %s", host)
			}
			return nil
		},
	}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
