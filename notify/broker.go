package notify

import (
	"context"
	"errors"
)

// ErrClosed is returned by a Broker or Hub used after Close.
var ErrClosed = errors.New("notify: closed")

// Broker carries payloads between the Hubs of every instance. Delivery is at
// most once: a payload may be lost (Redis restarting, a subscriber too slow),
// but then every subscriber that may have missed it receives a gap Message
// before anything published later.
type Broker interface {
	// Publish sends payload to every subscriber of topic on every instance,
	// this one included, with O(1) work whatever the number of subscribers.
	// Payloads from one publisher arrive in the order published. Publish
	// keeps no reference to payload after it returns.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe returns once the subscription is active: every payload
	// published to topic after that is delivered to it, or announced lost by
	// a gap. ctx bounds only the setup; the subscription lasts until it or
	// the Broker is closed.
	Subscribe(ctx context.Context, topic string) (Subscription, error)
	// Close ends every subscription, waits for the goroutines the Broker
	// started, and makes later calls return ErrClosed. It is safe to call
	// twice. It does not close connections the Broker was given.
	Close() error
}

// Subscription is a stream of one topic's payloads.
type Subscription interface {
	// Messages yields payloads in the order the transport delivered them. It
	// is closed when the subscription ends. A subscriber must keep reading:
	// a subscriber that falls far behind loses messages and is told so with
	// a gap.
	Messages() <-chan Message
	// Close ends the subscription and waits for its goroutines. It is safe
	// to call twice.
	Close() error
}

// Message is one item of a Subscription.
type Message struct {
	// Payload is what was published; subscribers must not modify it.
	Payload []byte
	// Gap, when set, means payloads published before this point may never
	// arrive (Payload is then nil). Everything published after a gap was
	// announced is delivered again.
	Gap bool
}
