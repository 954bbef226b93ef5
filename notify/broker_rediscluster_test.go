package notify

import (
	"context"
	"testing"
	"time"

	"parley/internal/redistest"
	"parley/model"
)

// testShards is the shard count of the tests' brokers: two per master,
// fewer connections than the default on a loaded machine.
const testShards = 6

// On a three-master Redis Cluster the broker keeps the Broker contract,
// and presence works as on one Redis: each of its commands and scripts
// touches one key, so none spans slots.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	testBroker(t, func(t *testing.T) func() Broker {
		prefix := redistest.Prefix()
		return func() Broker {
			b := NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t))
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})

	t.Run("Presence", func(t *testing.T) {
		t.Parallel()
		testPresence(t, NewRedisPresence(cluster.NewClient(), redistest.Prefix(), "a", testLogger(t)))
	})
	// Each master carries its share of a topic's channels, so no shard
	// carries all the traffic.
	t.Run("ChannelsSpreadOverMasters", func(t *testing.T) {
		client := cluster.NewClient()
		b := NewRedisClusterBroker(client, "p:", 0, testLogger(t))
		defer b.Close()
		perMaster := map[string]int{}
		for i := range b.shards {
			channel := b.channel("events", i)
			slot, err := client.ClusterKeySlot(ctxb, channel).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := int64(clusterSlot(channel[len("p:events:{") : len(channel)-1])); got != slot {
				t.Fatalf("channel %s: got slot %d, Redis says %d", channel, got, slot)
			}
			perMaster[cluster.MasterOf(int(slot))]++
		}
		if len(perMaster) != 3 {
			t.Fatalf("channels on %d masters, want 3: %v", len(perMaster), perMaster)
		}
		for addr, n := range perMaster {
			if n < DefaultClusterShards/3 {
				t.Errorf("master %s carries %d of %d channels, want at least %d", addr, n, DefaultClusterShards, DefaultClusterShards/3)
			}
		}
	})

	// Two Hubs on the cluster deliver each other's events, a
	// conversation's in order.
	t.Run("Hubs", func(t *testing.T) {
		prefix := redistest.Prefix()
		m := newMembers(memberships{1: {7, 8}, 2: {7, 8}})
		a := newTestHub(t, Config{}, NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t)), m)
		b := newTestHub(t, Config{}, NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t)), m)
		onA, onB := a.dial(t, 1, 1), b.dial(t, 2, 2)
		for seq := int64(1); seq <= 20; seq++ {
			[]*testHub{a, b}[seq%2].Publish(ctxb, model.MessageCreated(7, model.MessageID(seq), seq, seq))
		}
		for seq := int64(1); seq <= 20; seq++ {
			onA.expect(t, model.MessageCreated(7, model.MessageID(seq), seq, seq))
			onB.expect(t, model.MessageCreated(7, model.MessageID(seq), seq, seq))
		}
	})
}

// When the master holding a channel dies, its replica takes over; the
// subscription finds it, reports a gap, and delivers again on every shard.
func TestRedisClusterBroker_FailoverIsAGap(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	prefix := redistest.Prefix()
	sb := NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t))
	defer sb.Close()
	pb := NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t))
	defer pb.Close()
	sub := mustSubscribe(t, sb, "t")
	publishAllShards(t, pb, "before")
	receive(t, sub, testShards)

	victim := cluster.MasterOf(int(clusterSlot(sb.shards[0])))
	cluster.Kill(victim)
	cluster.WaitFailover(victim)
	expectGap(t, sub)
	// The publisher's first tries may go to the dead master and fail (as a
	// lost event does: clients catch up by seq); it then looks again.
	deadline := time.Now().Add(10 * time.Second)
	for pb.PublishKeyed(ctxb, "t", 0, []byte("probe")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("publishing fails 10s after the failover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	publishAllShards(t, pb, "after")
	receiveEventually(t, sub, "after", testShards)
}

// Moving a channel's slot to another master (resharding) makes Redis drop
// the subscription; it follows the slot, reports a gap, and delivers again.
func TestRedisClusterBroker_ReshardingIsAGap(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	prefix := redistest.Prefix()
	sb := NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t))
	defer sb.Close()
	pb := NewRedisClusterBroker(cluster.NewClient(), prefix, testShards, testLogger(t))
	defer pb.Close()
	sub := mustSubscribe(t, sb, "t")

	slot := int(clusterSlot(sb.shards[0]))
	src := cluster.MasterOf(slot)
	dst := cluster.MasterOf(int(clusterSlot(sb.shards[len(sb.shards)-1])))
	if src == dst {
		t.Fatalf("the first and last shard share master %s", src)
	}
	cluster.MoveSlot(slot, src, dst)
	expectGap(t, sub)
	if err := pb.PublishKeyed(ctxb, "t", 0, []byte("moved")); err != nil {
		t.Fatal(err)
	}
	receiveEventually(t, sub, "moved", 1)
}

func publishAllShards(t *testing.T, b *RedisBroker, payload string) {
	t.Helper()
	for i := range b.shards {
		if err := b.PublishKeyed(ctxb, "t", uint64(i), []byte(payload)); err != nil {
			t.Fatalf("publish to shard %d: %v", i, err)
		}
	}
}

// expectGap reads until the subscription reports a gap.
func expectGap(t *testing.T, sub Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxb, 30*time.Second)
	defer cancel()
	for {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatal("subscription closed, want a gap")
			}
			if m.Gap {
				return
			}
		case <-ctx.Done():
			t.Fatal("no gap within 30s")
		}
	}
}

// receiveEventually reads until n payloads equal to want arrived; gaps
// (further shards resubscribing) are skipped.
func receiveEventually(t *testing.T, sub Subscription, want string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxb, 30*time.Second)
	defer cancel()
	got := 0
	for got < n {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription closed after %d of %d", got, n)
			}
			switch {
			case m.Gap, string(m.Payload) == "probe":
			case string(m.Payload) == want:
				got++
			default:
				t.Fatalf("got %q, want %q", m.Payload, want)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d %q within 30s", got, n, want)
		}
	}
}
