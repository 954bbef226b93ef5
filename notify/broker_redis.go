package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timings of the Redis subscription's upkeep.
const (
	// redisHealthInterval is how long a subscription may be silent before it
	// pings Redis; a ping unanswered for as long again means the connection
	// died without a reset, and it is replaced.
	redisHealthInterval = 15 * time.Second
	// redisSetupTimeout bounds the wait for Redis to confirm a subscription
	// when the caller's ctx has no deadline.
	redisSetupTimeout = 10 * time.Second
	// Reconnection attempts back off from the first to the last.
	redisBackoffMin = 50 * time.Millisecond
	redisBackoffMax = 2 * time.Second
	// redisBuffer is how many payloads a subscription holds for its reader
	// before it stops reading Redis. Redis then buffers, and past its
	// client-output-buffer-limit for pubsub it drops the connection, which
	// the subscription reports as a gap after reconnecting.
	redisBuffer = 1024
)

// RedisBroker is a Broker over Redis pub/sub, for any number of instances
// sharing one Redis. Each topic is one Redis channel, "<prefix><topic>", so
// a publish is one PUBLISH whatever the number of recipients: instances do
// the per-connection fan-out for the users they hold.
//
// A subscription survives Redis restarts and dropped connections: it
// reconnects and resubscribes with backoff, and once Redis confirms the
// subscription again it delivers a gap, because what was published in
// between is lost.
type RedisBroker struct {
	client redis.UniversalClient
	prefix string
	log    *slog.Logger
	health time.Duration // redisHealthInterval; shorter in tests

	// shards, when set, spreads every topic over one sharded pub/sub
	// channel per hash tag (Redis Cluster: see broker_rediscluster.go).
	shards []string

	mu     sync.Mutex
	subs   map[*redisSubscription]struct{}
	closed bool

	// Until downUntil (Unix ns), after a failed PUBLISH, Publish fails at
	// once instead of waiting for Redis again: the event would be lost
	// anyway, and the request that published it should not wait. A
	// subscription that Redis confirms again clears it before it reports
	// the gap, so nothing published after the resync is skipped.
	downUntil atomic.Int64
}

// errSlotMoved reports that Redis Cluster ended a shard subscription
// because its slot moved.
var errSlotMoved = errors.New("redis cluster: slot moved, subscription ended")

// errRedisDown is what Publish returns while it fails fast.
var errRedisDown = errors.New("redis publish: skipped, Redis failed moments ago")

// publishBackoff is how long Publish fails fast after a PUBLISH failed.
const publishBackoff = time.Second

var _ Broker = (*RedisBroker)(nil)

// NewRedisBroker returns a Broker that publishes and subscribes through
// client, naming channels with prefix (PARLEY_REDIS_PREFIX, e.g. "parley:")
// so several deployments can share one Redis. The caller keeps ownership of
// client: Close does not close it.
func NewRedisBroker(client redis.UniversalClient, prefix string, logger *slog.Logger) *RedisBroker {
	return &RedisBroker{client: client, prefix: prefix, log: logger, health: redisHealthInterval,
		subs: make(map[*redisSubscription]struct{})}
}

// Publish issues one PUBLISH. Returns ErrClosed after Close.
func (b *RedisBroker) Publish(ctx context.Context, topic string, payload []byte) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if b.failingFast() {
		return errRedisDown
	}
	return b.publish(ctx, b.channel(topic, 0), payload)
}

// failingFast reports whether a publish failed moments ago.
func (b *RedisBroker) failingFast() bool { return time.Now().UnixNano() < b.downUntil.Load() }

// publish sends payload on channel, and fails fast for a moment after a
// failure.
func (b *RedisBroker) publish(ctx context.Context, channel string, payload []byte) error {
	var err error
	if b.shards == nil {
		err = b.client.Publish(ctx, channel, payload).Err()
	} else {
		err = b.client.SPublish(ctx, channel, payload).Err()
	}
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			b.downUntil.Store(time.Now().Add(publishBackoff).UnixNano())
		}
		b.lost(ctx)
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Subscribe subscribes to topic and waits for Redis to confirm it. It fails
// if Redis cannot be reached within ctx (or 10 s if ctx has no deadline).
// Returns ErrClosed after Close.
func (b *RedisBroker) Subscribe(ctx context.Context, topic string) (Subscription, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, redisSetupTimeout)
		defer cancel()
	}
	if b.shards != nil {
		return b.subscribeShards(ctx, topic)
	}
	return b.subscribe(ctx, b.channel(topic, 0))
}

// channel names the Redis channel of topic's shard (of its only channel
// without shards).
func (b *RedisBroker) channel(topic string, shard int) string {
	if b.shards == nil {
		return b.prefix + topic
	}
	return b.prefix + topic + ":{" + b.shards[shard] + "}"
}

// subscribeChannel starts subscribing to channel, sharded or not.
func (b *RedisBroker) subscribeChannel(ctx context.Context, channel string) *redis.PubSub {
	if b.shards == nil {
		return b.client.Subscribe(ctx, channel)
	}
	return b.client.SSubscribe(ctx, channel)
}

// subscribe subscribes to one channel and waits for Redis to confirm it.
func (b *RedisBroker) subscribe(ctx context.Context, channel string) (*redisSubscription, error) {
	ps := b.subscribeChannel(ctx, channel)
	if err := b.awaitSubscribed(ctx, ps, channel); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("redis subscribe: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &redisSubscription{
		broker:  b,
		channel: channel,
		ps:      ps,
		out:     make(chan Message, redisBuffer),
		ctx:     runCtx,
		cancel:  cancel,
		log:     b.log.With("channel", channel),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		cancel()
		_ = ps.Close()
		return nil, ErrClosed
	}
	b.subs[s] = struct{}{}
	s.wg.Add(1)
	b.mu.Unlock()
	go s.run()
	return s, nil
}

// awaitSubscribed reads replies until Redis confirms the subscription.
func (b *RedisBroker) awaitSubscribed(ctx context.Context, ps *redis.PubSub, channel string) error {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return err
		}
		if sub, ok := msg.(*redis.Subscription); ok && sub.Kind == b.subscribeKind() && sub.Channel == channel {
			return nil
		}
	}
}

// subscribeKind is the kind of Redis's subscription confirmations.
func (b *RedisBroker) subscribeKind() string {
	if b.shards == nil {
		return "subscribe"
	}
	return "ssubscribe"
}

// Close ends every subscription. It is safe to call twice.
func (b *RedisBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = make(map[*redisSubscription]struct{})
	b.mu.Unlock()
	for s := range subs {
		_ = s.Close()
	}
	return nil
}

type redisSubscription struct {
	broker  *RedisBroker
	channel string
	out     chan Message
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	log     *slog.Logger
	wg      sync.WaitGroup

	mu sync.Mutex // guards ps, which run replaces when the connection hangs
	ps *redis.PubSub

	closeOnce sync.Once
}

func (s *redisSubscription) Messages() <-chan Message { return s.out }

func (s *redisSubscription) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.mu.Lock()
		_ = s.ps.Close() // unblocks a pending receive
		s.mu.Unlock()
		s.wg.Wait()
		s.broker.mu.Lock()
		delete(s.broker.subs, s)
		s.broker.mu.Unlock()
	})
	return nil
}

func (s *redisSubscription) pubsub() *redis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// run reads the subscription until Close. go-redis reconnects a broken
// connection and resubscribes on the next receive; every subscribe
// confirmation after the first therefore marks a gap.
func (s *redisSubscription) run() {
	defer s.wg.Done()
	defer close(s.out)
	var (
		pinged  bool          // a health ping is unanswered
		backoff time.Duration // zero while receiving works
		down    time.Time     // when receiving started failing; zero until then
	)
	for s.ctx.Err() == nil {
		msg, err := s.pubsub().ReceiveTimeout(s.ctx, s.broker.health)
		if s.ctx.Err() != nil {
			return
		}
		if m, ok := msg.(*redis.Subscription); ok && m.Kind == "sunsubscribe" && m.Channel == s.channel {
			// Redis Cluster moved the channel's slot to another master
			// (resharding): subscribe again where it is now.
			err = errSlotMoved
		}
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() && backoff == 0 {
				if pinged {
					s.log.Warn("redis subscription unresponsive, reconnecting")
					s.replace()
					pinged = false
					continue
				}
				// Silence: make Redis say something. A write error breaks
				// the connection, which the next receive redials.
				_ = s.pubsub().Ping(s.ctx)
				pinged = true
				continue
			}
			if down.IsZero() {
				down = time.Now()
				s.log.Warn("redis subscription lost", "err", err)
			}
			backoff = min(max(2*backoff, redisBackoffMin), redisBackoffMax)
			if !sleepCtx(s.ctx, backoff) {
				return
			}
			if s.broker.shards != nil {
				// go-redis redials the node it first chose, which after a
				// failover or resharding no longer serves the slot: look
				// the slot up again and subscribe anew.
				s.broker.lost(s.ctx)
				s.replace()
			}
			continue
		}
		pinged, backoff = false, 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel != s.channel {
				continue
			}
			if m.Kind != s.broker.subscribeKind() {
				continue
			}
			// Redis answers again: publish for real from now on, so that
			// every event after the gap (and the resync it causes) is sent.
			s.broker.downUntil.Store(0)
			if down.IsZero() {
				s.log.Info("redis subscription renewed")
			} else {
				s.log.Info("redis subscription restored", "down_for", time.Since(down).Round(time.Millisecond))
				down = time.Time{}
			}
			if !s.send(Message{Gap: true}) {
				return
			}
		case *redis.Message:
			if !s.send(Message{Payload: []byte(m.Payload)}) {
				return
			}
		}
	}
}

// replace swaps a connection that stopped answering for a new subscription;
// its confirmation is reported as a gap like any other.
func (s *redisSubscription) replace() {
	ps := s.broker.subscribeChannel(s.ctx, s.channel)
	s.mu.Lock()
	if s.ctx.Err() != nil { // Close already closed s.ps
		s.mu.Unlock()
		_ = ps.Close()
		return
	}
	old := s.ps
	s.ps = ps
	s.mu.Unlock()
	_ = old.Close()
}

// send hands m to the reader, waiting while its buffer is full. It reports
// false once the subscription is closing.
func (s *redisSubscription) send(m Message) bool {
	select {
	case s.out <- m:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// sleepCtx waits for d, reporting false if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
