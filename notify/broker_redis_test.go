package notify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"parley/internal/redistest"
	"parley/model"
)

func TestRedisBroker(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	testBroker(t, func(t *testing.T) func() Broker {
		prefix := redistest.Prefix()
		return func() Broker { // a new client per broker, as each instance has its own
			b := NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t))
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})
}

// Killing the subscription's connection loses what is published until it
// is back; the subscription says so with a gap, then delivers again.
func TestRedisBroker_KilledConnectionIsAGap(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.ClientName = strings.TrimSuffix(strings.ReplaceAll(redistest.Prefix(), ":", "-"), "-")
	client := redis.NewClient(opt)
	defer client.Close()
	b := NewRedisBroker(client, redistest.Prefix(), testLogger(t))
	defer b.Close()
	sub := mustSubscribe(t, b, "t")
	mustPublish(t, b, "t", "before")
	receive(t, sub, 1)

	killPubSubConns(t, client, opt.ClientName)
	if m := <-sub.Messages(); !m.Gap {
		t.Fatalf("got %q, want a gap", m.Payload)
	}
	mustPublish(t, b, "t", "after")
	if got := receive(t, sub, 1)[0]; got != "after" {
		t.Fatalf("got %q, want after", got)
	}
}

// killPubSubConns kills the pub/sub connections named name, and only those:
// other tests share this Redis.
func killPubSubConns(t *testing.T, client *redis.Client, name string) {
	t.Helper()
	list, err := client.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["name"] != name || fields["sub"] == "0" {
			continue
		}
		id, _ := strconv.ParseInt(fields["id"], 10, 64)
		if err := client.ClientKillByFilter(context.Background(), "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed != 1 {
		t.Fatalf("killed %d pub/sub connections, want 1", killed)
	}
}

// redisServer is a Redis of the test's own, which it may restart.
type redisServer struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{t: t, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// start runs redis-server and waits until it answers.
func (s *redisServer) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			_, err = c.Write([]byte("PING\r\n"))
			if err == nil {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				var line string
				line, err = bufio.NewReader(c).ReadString('\n')
				if err == nil && line != "+PONG\r\n" {
					err = fmt.Errorf("got %q", line)
				}
			}
			_ = c.Close()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d does not answer: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills redis-server at once, as a crash would.
func (s *redisServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// After Redis restarts, the Hub resubscribes by itself, tells its clients
// (WebSockets and streams alike) to resync, reloads memberships (the
// conversation.left published during the outage was lost), and delivers
// again.
func TestHub_RedisRestart(t *testing.T) {
	t.Parallel()
	srv := startRedisServer(t)
	m := newMembers(memberships{1: {7, 8}})
	hub := newTestHub(t, Config{}, NewRedisBroker(redistest.NewClient(t, srv.url()), redistest.Prefix(), testLogger(t)), m)
	c := hub.dial(t, 1, 1)
	s := hub.stream(t, 1, 2)
	hub.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	c.expect(t, model.MessageCreated(7, 100, 1, 1))
	s.expect(t, model.MessageCreated(7, 100, 1, 1))

	srv.stop()
	m.remove(1, 8) // committed while Redis is down: its conversation.left is lost
	hub.Publish(ctxb, model.ConversationLeft(1, 8))
	srv.start()

	c.expect(t, model.Resync())
	c.expect(t, model.Resync()) // again once memberships were reloaded, as they changed
	s.expect(t, model.Resync())
	s.expect(t, model.Resync())
	hub.Publish(ctxb, model.MessageCreated(8, 101, 1, 1))
	hub.Publish(ctxb, model.MessageCreated(7, 102, 2, 2))
	c.expect(t, model.MessageCreated(7, 102, 2, 2))
	s.expect(t, model.MessageCreated(7, 102, 2, 2))
}

// Many clients on two instances each get every message, in order.
func TestHub_ManyClients(t *testing.T) {
	t.Parallel()
	const clients, messages = 64, 100
	url := redistest.URL(t)
	prefix := redistest.Prefix()
	m := newMembers(nil)
	hubs := make([]*testHub, 2)
	for i := range hubs {
		hubs[i] = newTestHub(t, Config{}, NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	}
	var cs []*client
	for i := range clients {
		user := model.UserID(i + 1)
		m.set(user, 1)
		cs = append(cs, hubs[i%2].dial(t, user, 1))
	}

	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for seq := int64(1); seq <= messages; seq++ {
				ev, err := c.read(t)
				if err != nil {
					t.Errorf("user %d: read: %v", c.user, err)
					return
				}
				if ev.Type != model.EventMessageCreated || ev.Seq != seq {
					t.Errorf("user %d: got %s seq %d, want message.created seq %d", c.user, ev.Type, ev.Seq, seq)
					return
				}
			}
		})
	}
	start := time.Now()
	for seq := int64(1); seq <= messages; seq++ { // alternately through each instance
		hubs[seq%2].Publish(ctxb, model.MessageCreated(1, model.MessageID(seq), seq, seq))
	}
	wg.Wait()
	t.Logf("%d deliveries in %v", clients*messages, time.Since(start))
}

// CloseSession ends one login's connections on every instance, and no
// other.
func TestHub_CloseSession(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	prefix := redistest.Prefix()
	m := newMembers(memberships{1: {7}, 2: {7}})
	a := newTestHub(t, Config{}, NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	b := newTestHub(t, Config{}, NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t)), m)
	loginOnA, loginOnB := a.dial(t, 1, 1), b.dial(t, 1, 1)
	streamOnB := b.stream(t, 1, 1)
	otherLogin := a.dial(t, 1, 2)
	otherStream := b.stream(t, 1, 2)
	otherUser := b.dial(t, 2, 3)

	const loggedOut = websocket.StatusCode(4001)
	a.CloseSession(ctxb, 1, 1, "logged out")
	loginOnA.expectClose(t, loggedOut)
	loginOnB.expectClose(t, loggedOut)
	streamOnB.expectClosed(t)
	a.Publish(ctxb, model.MessageCreated(7, 100, 1, 1))
	otherLogin.expect(t, model.MessageCreated(7, 100, 1, 1))
	otherStream.expect(t, model.MessageCreated(7, 100, 1, 1)) // published on A, streamed from B
	otherUser.expect(t, model.MessageCreated(7, 100, 1, 1))
}

// A connection that goes silent without being reset (a NAT or load
// balancer dropping it) is detected by the health ping and replaced.
func TestRedisBroker_SilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startFreezableProxy(t, opt.Addr)
	opt.Addr = proxy.addr()
	viaProxy := redis.NewClient(opt)
	defer viaProxy.Close()
	prefix := redistest.Prefix()
	b := NewRedisBroker(viaProxy, prefix, testLogger(t))
	b.health = 50 * time.Millisecond
	defer b.Close()
	direct := NewRedisBroker(redistest.NewClient(t, url), prefix, testLogger(t))
	defer direct.Close()

	sub := mustSubscribe(t, b, "t")
	mustPublish(t, direct, "t", "before")
	receive(t, sub, 1)

	proxy.freezeAll() // the subscription's connection now hears nothing
	mustPublish(t, direct, "t", "lost")
	if m := <-sub.Messages(); !m.Gap {
		t.Fatalf("got %q, want a gap", m.Payload)
	}
	mustPublish(t, direct, "t", "after")
	if got := receive(t, sub, 1)[0]; got != "after" {
		t.Fatalf("got %q, want after", got)
	}
}

// freezableProxy forwards TCP connections to a target until told to
// freeze them: frozen connections stay open but carry nothing more. New
// connections are forwarded as usual.
type freezableProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []*proxiedConn
	closed bool
}

type proxiedConn struct {
	client, server net.Conn
	frozen         chan struct{}
}

func startFreezableProxy(t *testing.T, target string) *freezableProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezableProxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *freezableProxy) addr() string { return p.l.Addr().String() }

func (p *freezableProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxiedConn{client: c, server: s, frozen: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.conns = append(p.conns, pc)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(pc, c, s)
		go p.pipe(pc, s, c)
	}
}

// pipe copies from src to dst until either closes, dropping what it reads
// once pc is frozen.
func (p *freezableProxy) pipe(pc *proxiedConn, src, dst net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		select {
		case <-pc.frozen:
			continue
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			_ = src.Close()
			return
		}
	}
}

func (p *freezableProxy) freezeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		select {
		case <-pc.frozen:
		default:
			close(pc.frozen)
		}
	}
}

func (p *freezableProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	_ = p.l.Close()
	for _, pc := range conns {
		_ = pc.client.Close()
		_ = pc.server.Close()
	}
	p.wg.Wait()
}

func TestRedisBroker_PublishFailsFastWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	// A real client to a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	b := NewRedisBroker(client, redistest.Prefix(), testLogger(t))
	ctx := context.Background()

	if err := b.Publish(ctx, "t", []byte("x")); err == nil || errors.Is(err, errRedisDown) {
		t.Fatalf("first publish: got %v, want the dial error", err)
	}
	if err := b.Publish(ctx, "t", []byte("x")); !errors.Is(err, errRedisDown) {
		t.Errorf("publish right after a failure: got %v, want errRedisDown without asking Redis", err)
	}
}
