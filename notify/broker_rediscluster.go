package notify

import (
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// DefaultClusterShards is how many sharded pub/sub channels a topic spreads
// over on Redis Cluster when the constructor is given no count: enough to
// spread the traffic over a few dozen masters, few enough that an instance's
// subscriptions (one connection each) stay cheap.
const DefaultClusterShards = 16

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// NewRedisClusterBroker returns a Broker over Redis Cluster's sharded
// pub/sub (Redis 7: SPUBLISH/SSUBSCRIBE). A topic is spread over shards
// channels "<prefix><topic>:{<tag>}"; each tag hashes into its own
// 1/shards of the slot space, so with the slots split evenly between
// masters (what redis-cli --cluster create does) the channels are too, and
// no master carries all the traffic. PublishKeyed keeps one key (a
// conversation) on one channel, hence in order; every subscription listens
// to all of a topic's channels.
//
// A subscription survives failovers and resharding: when its connection
// breaks, or Redis tells it the slot moved (sunsubscribe), it reloads the
// cluster's layout, subscribes where the slot is now, and delivers a gap.
// The caller keeps ownership of client.
func NewRedisClusterBroker(client *redis.ClusterClient, prefix string, shards int, logger *slog.Logger) *RedisBroker {
	if shards <= 0 {
		shards = DefaultClusterShards
	}
	b := NewRedisBroker(client, prefix, logger)
	b.shards = shardTags(shards)
	return b
}

// PublishKeyed publishes payload on the channel of topic that key picks:
// payloads with one key arrive in the order published. Without shards it is
// Publish. Returns ErrClosed after Close.
func (b *RedisBroker) PublishKeyed(ctx context.Context, topic string, key uint64, payload []byte) error {
	if b.shards == nil {
		return b.Publish(ctx, topic, payload)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if b.failingFast() {
		return errRedisDown
	}
	return b.publish(ctx, b.channel(topic, int(key%uint64(len(b.shards)))), payload)
}

// keyedPublisher is a Broker that spreads a topic over channels, choosing
// by key; the Hub publishes a conversation's events with the
// conversation's id as the key.
type keyedPublisher interface {
	PublishKeyed(ctx context.Context, topic string, key uint64, payload []byte) error
}

var _ keyedPublisher = (*RedisBroker)(nil)

// lost is called when a subscription's connection fails: on Redis Cluster
// the slot may have moved (failover), so the next subscribe must look again.
func (b *RedisBroker) lost(context.Context) {
	if c, ok := b.client.(*redis.ClusterClient); ok {
		c.ReloadState(context.Background())
	}
}

// subscribeShards subscribes to every channel of topic and merges them into
// one Subscription.
func (b *RedisBroker) subscribeShards(ctx context.Context, topic string) (Subscription, error) {
	m := &mergedSubscription{out: make(chan Message, redisBuffer)}
	for i := range b.shards {
		s, err := b.subscribe(ctx, b.channel(topic, i))
		if err != nil {
			_ = m.Close()
			return nil, err
		}
		m.subs = append(m.subs, s)
	}
	m.wg.Add(len(m.subs))
	for _, s := range m.subs {
		go func() {
			defer m.wg.Done()
			for msg := range s.Messages() {
				m.out <- msg // never blocks forever: Close drains out first
			}
		}()
	}
	go func() {
		m.wg.Wait()
		close(m.out)
	}()
	return m, nil
}

// mergedSubscription delivers the payloads of several channels as one
// stream. Payloads of one channel keep their order.
type mergedSubscription struct {
	subs      []*redisSubscription
	out       chan Message
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func (m *mergedSubscription) Messages() <-chan Message { return m.out }

func (m *mergedSubscription) Close() error {
	m.closeOnce.Do(func() {
		done := make(chan struct{})
		go func() { // let the forwarders finish while the shards close
			for {
				select {
				case _, ok := <-m.out:
					if !ok {
						return
					}
				case <-done:
					return
				}
			}
		}()
		for _, s := range m.subs {
			_ = s.Close()
		}
		m.wg.Wait()
		close(done)
	})
	return nil
}

// shardTags returns n hash tags, the i-th hashing into the i-th of n equal
// ranges of the cluster's slots.
func shardTags(n int) []string {
	tags := make([]string, n)
	found := 0
	for i := 0; found < n; i++ {
		tag := strconv.Itoa(i)
		r := int(clusterSlot(tag)) * n / clusterSlots
		if tags[r] == "" {
			tags[r] = tag
			found++
		}
	}
	return tags
}

// clusterSlot is Redis Cluster's slot of a key: CRC16 (XMODEM) mod 16384.
func clusterSlot(key string) uint16 {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % clusterSlots
}
