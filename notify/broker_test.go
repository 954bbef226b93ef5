package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/model"
)

// newBusFunc returns a factory of brokers that share one bus, as the
// instances of a deployment share one Redis: whatever one publishes, every
// one receives. The brokers are closed when t ends.
type newBusFunc func(t *testing.T) func() Broker

// testBroker is the contract every Broker meets.
func testBroker(t *testing.T, newBus newBusFunc) {
	t.Run("EveryBrokerReceivesWhicheverPublished", func(t *testing.T) {
		t.Parallel()
		newBroker := newBus(t)
		a, b := newBroker(), newBroker()
		subA, subB := mustSubscribe(t, a, "t"), mustSubscribe(t, b, "t")
		mustPublish(t, a, "t", "from a")
		mustPublish(t, b, "t", "from b")
		for _, sub := range []Subscription{subA, subB} {
			if diff := cmp.Diff([]string{"from a", "from b"}, receive(t, sub, 2)); diff != "" {
				t.Errorf("received (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("InOrder", func(t *testing.T) {
		t.Parallel()
		newBroker := newBus(t)
		a, b := newBroker(), newBroker()
		sub := mustSubscribe(t, b, "t")
		var want []string
		for i := range 500 {
			want = append(want, fmt.Sprint(i))
			mustPublish(t, a, "t", want[i])
		}
		if diff := cmp.Diff(want, receive(t, sub, len(want))); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
	})

	t.Run("TopicsAreSeparate", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)()
		one, two := mustSubscribe(t, b, "one"), mustSubscribe(t, b, "two")
		mustPublish(t, b, "two", "2")
		mustPublish(t, b, "one", "1")
		if got := receive(t, one, 1); got[0] != "1" {
			t.Errorf("topic one got %q, want 1", got[0])
		}
		if got := receive(t, two, 1); got[0] != "2" {
			t.Errorf("topic two got %q, want 2", got[0])
		}
	})

	t.Run("PayloadIsBinarySafeAndCopied", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)()
		sub := mustSubscribe(t, b, "t")
		payload := []byte{0, 0xff, '\n', 'x', 0xc3}
		want := bytes.Clone(payload)
		if err := b.Publish(context.Background(), "t", payload); err != nil {
			t.Fatal(err)
		}
		payload[0] = 'X' // Publish keeps no reference
		if got := receive(t, sub, 1)[0]; got != string(want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("SubscriptionClose", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)()
		sub := mustSubscribe(t, b, "t")
		other := mustSubscribe(t, b, "t")
		if err := sub.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := sub.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		awaitClosed(t, sub)
		mustPublish(t, b, "t", "still")
		if got := receive(t, other, 1)[0]; got != "still" {
			t.Errorf("other subscription got %q, want still", got)
		}
	})

	t.Run("BrokerClose", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)()
		sub := mustSubscribe(t, b, "t")
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		awaitClosed(t, sub)
		if err := b.Publish(context.Background(), "t", []byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("publish after close: got %v, want ErrClosed", err)
		}
		if _, err := b.Subscribe(context.Background(), "t"); !errors.Is(err, ErrClosed) {
			t.Errorf("subscribe after close: got %v, want ErrClosed", err)
		}
	})

	// The key property: every Hub delivers every event, whichever Hub
	// published it, and nothing arrives twice.
	t.Run("TwoHubsBothDeliver", func(t *testing.T) {
		t.Parallel()
		newBroker := newBus(t)
		members := newMembers(memberships{1: {7}, 2: {7}})
		hubA := newTestHub(t, Config{}, newBroker(), members)
		hubB := newTestHub(t, Config{}, newBroker(), members)
		onA := hubA.dial(t, 1, 1)
		onB := hubB.dial(t, 2, 2)
		hubA.Publish(context.Background(), model.MessageCreated(7, 100, 1, 1))
		hubB.Publish(context.Background(), model.MessageCreated(7, 101, 2, 2))
		hubA.Publish(context.Background(), model.ReadUpdated(1, 7, 2))
		hubA.Publish(context.Background(), model.ReadUpdated(2, 7, 2))
		for _, c := range []*client{onA, onB} {
			c.expect(t, model.MessageCreated(7, 100, 1, 1))
			c.expect(t, model.MessageCreated(7, 101, 2, 2))
			c.expect(t, model.ReadUpdated(c.user, 7, 2)) // and no duplicate before it
		}
	})
}

func TestMemoryBroker(t *testing.T) {
	t.Parallel()
	testBroker(t, func(t *testing.T) func() Broker {
		bus := NewMemoryBroker()
		t.Cleanup(func() { _ = bus.Close() })
		return func() Broker {
			v := &memoryView{bus: bus}
			t.Cleanup(func() { _ = v.Close() })
			return v
		}
	})
}

func TestMemoryBroker_OverflowIsAGap(t *testing.T) {
	t.Parallel()
	b := NewMemoryBroker()
	defer b.Close()
	sub := mustSubscribe(t, b, "t")
	for i := range memoryBuffer + 1 { // the last one is dropped
		mustPublish(t, b, "t", fmt.Sprint(i))
	}
	if got := receive(t, sub, 1)[0]; got != "0" {
		t.Fatalf("first: got %q, want 0", got)
	}
	mustPublish(t, b, "t", "after") // room for the gap, not for this one
	receive(t, sub, memoryBuffer-1)
	if m := <-sub.Messages(); !m.Gap {
		t.Fatalf("got %q, want a gap", m.Payload)
	}
	mustPublish(t, b, "t", "next") // "after" was lost too: another gap first
	if m := <-sub.Messages(); !m.Gap {
		t.Fatalf("got %q, want a gap", m.Payload)
	}
	if got := receive(t, sub, 1)[0]; got != "next" {
		t.Fatalf("got %q, want next", got)
	}
}

// memoryView is one instance's view of a MemoryBroker shared by several
// Hubs in a test, as Redis is shared by several processes: closing it ends
// only its own subscriptions.
type memoryView struct {
	bus    *MemoryBroker
	mu     sync.Mutex
	subs   []Subscription
	closed bool
}

func (v *memoryView) Publish(ctx context.Context, topic string, payload []byte) error {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return v.bus.Publish(ctx, topic, payload)
}

func (v *memoryView) Subscribe(ctx context.Context, topic string) (Subscription, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, ErrClosed
	}
	s, err := v.bus.Subscribe(ctx, topic)
	if err == nil {
		v.subs = append(v.subs, s)
	}
	return s, err
}

func (v *memoryView) Close() error {
	v.mu.Lock()
	v.closed = true
	subs := v.subs
	v.subs = nil
	v.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
	return nil
}

func mustSubscribe(t *testing.T, b Broker, topic string) Subscription {
	t.Helper()
	sub, err := b.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func mustPublish(t *testing.T, b Broker, topic, payload string) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// receive returns the next n payloads of sub, failing on a gap or timeout.
func receive(t *testing.T, sub Subscription, n int) []string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var got []string
	for len(got) < n {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription closed after %d of %d", len(got), n)
			}
			if m.Gap {
				t.Fatalf("gap after %d of %d", len(got), n)
			}
			got = append(got, string(m.Payload))
		case <-timeout:
			t.Fatalf("timed out after %d of %d", len(got), n)
		}
	}
	return got
}

// awaitClosed fails unless sub's channel closes (after draining it).
func awaitClosed(t *testing.T, sub Subscription) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-sub.Messages():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription not closed")
		}
	}
}
