package model

import (
	"crypto/ecdh"
	"encoding/base64"
	"net"
	"net/url"
	"strings"
	"time"
)

// DeviceID identifies a registered push device.
type DeviceID int64

// DeviceKind is how a device is reached when it has no live connection.
type DeviceKind string

// The kinds of device.
const (
	// DeviceWebPush is a Web Push subscription (RFC 8030): the payload is
	// encrypted to the subscription's keys (RFC 8291) and the request signed
	// with the server's VAPID key (RFC 8292).
	DeviceWebPush DeviceKind = "webpush"
	// DeviceUnifiedPush is a UnifiedPush endpoint: a plain HTTP POST of the
	// payload.
	DeviceUnifiedPush DeviceKind = "unifiedpush"
)

// Limits on devices.
const (
	MaxDevicesPerUser = 20
	MaxEndpointLen    = 2048 // bytes
)

// Device is an endpoint that wakes one of a user's clients.
type Device struct {
	ID       DeviceID
	UserID   UserID
	Kind     DeviceKind
	Endpoint string
	// P256DH and Auth are a Web Push subscription's keys, base64url as the
	// browser's PushSubscription gives them; empty for UnifiedPush.
	P256DH string
	Auth   string
	// IncludeSender: the user opted in to the sender's display name in the
	// pushes to this device. Never the message text.
	IncludeSender bool
	CreatedAt     time.Time
}

// Validate checks a device a client registers. Endpoints must be https;
// allowLoopbackHTTP also admits http to a loopback address, for tests.
// Returns EInvalid naming "kind", "endpoint", "keys.p256dh" or "keys.auth".
func (d *Device) Validate(allowLoopbackHTTP bool) error {
	switch d.Kind {
	case DeviceWebPush:
		if err := validateWebPushKeys(d.P256DH, d.Auth); err != nil {
			return err
		}
	case DeviceUnifiedPush:
		if d.P256DH != "" || d.Auth != "" {
			return FieldError("keys", "only a webpush device has keys")
		}
	default:
		return FieldError("kind", "must be webpush or unifiedpush")
	}
	return ValidateEndpoint(d.Endpoint, allowLoopbackHTTP)
}

// ValidateEndpoint returns EInvalid naming "endpoint" unless raw is an
// absolute https URL of at most MaxEndpointLen bytes with no user info;
// allowLoopbackHTTP also admits http://127.0.0.1… and http://[::1]….
func ValidateEndpoint(raw string, allowLoopbackHTTP bool) error {
	bad := FieldError("endpoint", "must be an https URL of at most 2048 bytes")
	if len(raw) > MaxEndpointLen {
		return bad
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return bad
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowLoopbackHTTP && IsLoopbackHost(u.Hostname()):
	default:
		return bad
	}
	return nil
}

// IsLoopbackHost reports whether host is a loopback IP address literal.
func IsLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateWebPushKeys checks that p256dh is an uncompressed P-256 point and
// auth a 16-byte secret, both base64url (padding optional), as RFC 8291
// needs them.
func validateWebPushKeys(p256dh, auth string) error {
	pub, err := decodeBase64URL(p256dh)
	if err != nil || len(pub) != 65 {
		return FieldError("keys.p256dh", "must be a base64url P-256 public key (65 bytes)")
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return FieldError("keys.p256dh", "must be a base64url P-256 public key (65 bytes)")
	}
	if secret, err := decodeBase64URL(auth); err != nil || len(secret) != 16 {
		return FieldError("keys.auth", "must be a base64url secret of 16 bytes")
	}
	return nil
}

func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// PushMessage is what a push to a device says: which message arrived, never
// its text. SenderName is set only for devices whose user opted in.
type PushMessage struct {
	ConversationID ConversationID
	MessageID      MessageID
	Seq            int64
	SenderName     string
}
