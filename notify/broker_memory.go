package notify

import (
	"context"
	"sync"
)

// memoryBuffer is how many payloads a memory subscription holds before it
// drops them and announces a gap, as Redis drops a subscriber whose output
// buffer overflows.
const memoryBuffer = 4096

// MemoryBroker is a Broker for a single instance: Publish hands payloads to
// this process's subscribers and never blocks. The zero value is not usable;
// call NewMemoryBroker.
type MemoryBroker struct {
	mu     sync.RWMutex
	subs   map[string]map[*memorySubscription]struct{} // by topic
	closed bool
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a Broker that serves one process. It starts no
// goroutines.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: make(map[string]map[*memorySubscription]struct{})}
}

// Publish hands a copy of payload to every subscriber of topic. Returns
// ErrClosed after Close.
func (b *MemoryBroker) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := append([]byte(nil), payload...)
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for s := range b.subs[topic] {
		s.send(p)
	}
	return nil
}

// Subscribe subscribes to topic at once. Returns ErrClosed after Close.
func (b *MemoryBroker) Subscribe(ctx context.Context, topic string) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &memorySubscription{broker: b, topic: topic, ch: make(chan Message, memoryBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.subs[topic] == nil {
		b.subs[topic] = make(map[*memorySubscription]struct{})
	}
	b.subs[topic][s] = struct{}{}
	return s, nil
}

// Close ends every subscription. It is safe to call twice.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	var all []*memorySubscription
	for _, subs := range b.subs {
		for s := range subs {
			all = append(all, s)
		}
	}
	b.mu.Unlock()
	for _, s := range all {
		_ = s.Close()
	}
	return nil
}

type memorySubscription struct {
	broker *MemoryBroker
	topic  string
	ch     chan Message

	mu     sync.Mutex // serializes senders with each other and with Close
	lost   bool       // a payload was dropped; a gap is owed before the next one
	closed bool
}

func (s *memorySubscription) Messages() <-chan Message { return s.ch }

// send never blocks: when the buffer is full the payload is dropped and the
// subscriber gets a gap as soon as there is room again.
func (s *memorySubscription) send(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.lost {
		select {
		case s.ch <- Message{Gap: true}:
			s.lost = false
		default:
			return
		}
	}
	select {
	case s.ch <- Message{Payload: p}:
	default:
		s.lost = true
	}
}

func (s *memorySubscription) Close() error {
	b := s.broker
	b.mu.Lock()
	delete(b.subs[s.topic], s)
	if len(b.subs[s.topic]) == 0 {
		delete(b.subs, s.topic)
	}
	b.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	return nil
}
