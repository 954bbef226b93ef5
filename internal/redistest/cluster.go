package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of the test's own, on loopback: masters with
// one replica each, built with redis-cli --cluster create. A test may kill
// its nodes or move its slots: nothing else uses it.
type Cluster struct {
	tb    testing.TB
	mu    sync.Mutex
	nodes map[string]*exec.Cmd // by address; nil once killed
}

// StartCluster starts masters masters with one replica each (a node
// timeout of one second, so a failover takes a few seconds) and waits
// until every node reports the cluster ok. Everything stops when tb ends.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, nodes: make(map[string]*exec.Cmd)}
	tb.Cleanup(c.stop)
	dir := tb.TempDir()
	var addrs []string
	for i := range 2 * masters {
		port, bus := freePort(tb), freePort(tb)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"), "--cluster-node-timeout", "1000",
			"--repl-diskless-sync-delay", "0",
			"--dir", nodeDir, "--save", "", "--appendonly", "no", "--loglevel", "warning",
			"--logfile", filepath.Join(nodeDir, "redis.log"))
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start redis-server: %v", err)
		}
		c.mu.Lock()
		c.nodes[addr] = cmd
		c.mu.Unlock()
		addrs = append(addrs, addr)
	}
	for i, addr := range addrs {
		waitPing(tb, addr, filepath.Join(dir, strconv.Itoa(i), "redis.log"))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.wait(func(slots []redis.ClusterSlot) error {
		for _, s := range slots {
			if len(s.Nodes) < 2 {
				return fmt.Errorf("slots %d-%d have no replica in sync", s.Start, s.End)
			}
		}
		return nil
	})
	return c
}

// Addrs returns the addresses of the nodes still running.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for addr, cmd := range c.nodes {
		if cmd != nil {
			addrs = append(addrs, addr)
		}
	}
	return addrs
}

// NewClient returns a cluster client, closed when the test ends.
func (c *Cluster) NewClient() *redis.ClusterClient {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.tb.Cleanup(func() { _ = client.Close() })
	return client
}

// Kill kills the node at addr at once, as a crash would.
func (c *Cluster) Kill(addr string) {
	c.mu.Lock()
	cmd := c.nodes[addr]
	c.nodes[addr] = nil
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// WaitOK waits until every running node says cluster_state:ok and agrees
// with the others on who serves every slot.
func (c *Cluster) WaitOK() {
	c.tb.Helper()
	c.wait(nil)
}

// WaitFailover waits until the cluster is ok again with no slot served by
// the master at addr, which was killed.
func (c *Cluster) WaitFailover(addr string) {
	c.tb.Helper()
	c.wait(func(slots []redis.ClusterSlot) error {
		for _, s := range slots {
			if len(s.Nodes) > 0 && s.Nodes[0].Addr == addr {
				return fmt.Errorf("slots %d-%d still on %s", s.Start, s.End, addr)
			}
		}
		return nil
	})
}

// wait waits until every running node is ok, agrees with the others and
// passes also (if not nil).
func (c *Cluster) wait(also func([]redis.ClusterSlot) error) {
	c.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.check(also)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("redistest: cluster not ready after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) check(also func([]redis.ClusterSlot) error) error {
	ctx := context.Background()
	var first string
	for _, addr := range c.Addrs() {
		n := redis.NewClient(&redis.Options{Addr: addr})
		info, err := n.ClusterInfo(ctx).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			// CLUSTER SLOTS lists a replica only once it has synced, which
			// is what StartCluster waits for; CLUSTER SHARDS would not say.
			slots, err = n.ClusterSlots(ctx).Result() //nolint:staticcheck // see above
		}
		_ = n.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state not ok", addr)
		}
		if also != nil {
			if err := also(slots); err != nil {
				return fmt.Errorf("%s: %w", addr, err)
			}
		}
		layout := masterLayout(slots)
		if first == "" {
			first = layout
		} else if layout != first {
			return fmt.Errorf("%s sees another slot layout", addr)
		}
	}
	return nil
}

// masterLayout prints which master serves which slots, sorted.
func masterLayout(slots []redis.ClusterSlot) string {
	var lines []string
	for _, s := range slots {
		if len(s.Nodes) > 0 {
			lines = append(lines, fmt.Sprintf("%05d-%05d %s", s.Start, s.End, s.Nodes[0].Addr))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, ",")
}

// MasterOf returns the address of the master serving slot.
func (c *Cluster) MasterOf(slot int) string {
	c.tb.Helper()
	for _, addr := range c.Addrs() {
		n := redis.NewClient(&redis.Options{Addr: addr})
		slots, err := n.ClusterSlots(context.Background()).Result() //nolint:staticcheck // as in check
		_ = n.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if s.Start <= slot && slot <= s.End && len(s.Nodes) > 0 {
				return s.Nodes[0].Addr
			}
		}
	}
	c.tb.Fatalf("redistest: no master serves slot %d", slot)
	return ""
}

// NodeID returns the cluster node id of the node at addr.
func (c *Cluster) NodeID(addr string) string {
	c.tb.Helper()
	n := redis.NewClient(&redis.Options{Addr: addr})
	defer n.Close()
	id, err := n.Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		c.tb.Fatalf("redistest: cluster myid %s: %v", addr, err)
	}
	return id
}

// MoveSlot moves an empty slot from the master at src to the master at dst
// the way redis-cli --cluster reshard does, and waits until every node
// agrees.
func (c *Cluster) MoveSlot(slot int, src, dst string) {
	c.tb.Helper()
	ctx := context.Background()
	srcID, dstID := c.NodeID(src), c.NodeID(dst)
	do := func(addr string, args ...any) {
		n := redis.NewClient(&redis.Options{Addr: addr})
		defer n.Close()
		if err := n.Do(ctx, args...).Err(); err != nil {
			c.tb.Fatalf("redistest: %s %v: %v", addr, args, err)
		}
	}
	do(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	do(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	do(dst, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	do(src, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	for _, addr := range c.Addrs() {
		if addr != src && addr != dst {
			n := redis.NewClient(&redis.Options{Addr: addr})
			_ = n.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err() // replicas refuse; gossip tells them
			_ = n.Close()
		}
	}
	c.WaitOK()
}

func (c *Cluster) stop() {
	for _, addr := range c.Addrs() {
		c.Kill(addr)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPing waits until the Redis at addr answers PING.
func waitPing(tb testing.TB, addr, logFile string) {
	tb.Helper()
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	deadline := time.Now().Add(10 * time.Second)
	for n.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			tb.Fatalf("redistest: redis-server at %s does not answer; its log:\n%s", addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
