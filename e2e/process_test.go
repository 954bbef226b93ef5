package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"parley/internal/redistest"
)

// Deadlines for processes to come up and go away. The machine is small and
// shared, and the servers may be built with -race, so they are generous:
// they bound a failure, they do not slow a passing test.
const (
	startTimeout = 45 * time.Second
	stopTimeout  = 30 * time.Second
)

// testSecret signs every instance's access tokens: instances of one
// deployment share it, so a token from one works on all.
const testSecret = "e2e-test-secret-e2e-test-secret-e2e-test"

// proc is a child process started by a test. It is stopped when the test
// ends; its output is kept and shown if the test failed.
type proc struct {
	name      string
	cmd       *exec.Cmd
	out       *output
	checkExit bool          // a non-zero exit status fails the test
	done      chan struct{} // closed once the process has exited
	waitErr   error         // what Wait returned; read after done
	ended     atomic.Bool   // the test killed it on purpose, so its exit status does not count
}

// startProc starts cmd, with its stdout and stderr captured, and stops it
// (SIGTERM, then SIGKILL after stopTimeout) when tb ends.
func startProc(tb testing.TB, name string, cmd *exec.Cmd, checkExit bool) *proc {
	tb.Helper()
	p := &proc{name: name, cmd: cmd, out: newOutput(), checkExit: checkExit, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if !p.wait(stopTimeout) {
				tb.Errorf("%s did not stop within %s of SIGTERM; killing it", name, stopTimeout)
				p.kill()
			}
		}
		if p.checkExit && !p.ended.Load() && p.waitErr != nil {
			tb.Errorf("%s exited with %v, want status 0", name, p.waitErr)
		}
		if p.out.contains("WARNING: DATA RACE") {
			tb.Errorf("%s reported a data race (its output follows)", name)
		}
		if tb.Failed() {
			tb.Logf("--- last output of %s:\n%s", name, p.out.tail(150))
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to end and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	p.ended.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// signal sends sig to the process.
func (p *proc) signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// output keeps the last lines a process wrote, for waiting on a line and for
// the failure report.
type output struct {
	mu      sync.Mutex
	lines   []string
	dropped int
	partial []byte
	changed chan struct{} // closed and replaced on every complete line
	race    bool
}

const maxOutputLines = 5000

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		if strings.Contains(line, "WARNING: DATA RACE") {
			o.race = true
		}
		o.lines = append(o.lines, line)
		added = true
	}
	if n := len(o.lines) - maxOutputLines; n > 0 {
		o.lines = slices.Delete(o.lines, 0, n)
		o.dropped += n
	}
	if added {
		close(o.changed)
		o.changed = make(chan struct{})
	}
	return len(p), nil
}

// waitLine returns the first line, old or new, for which match is true. It
// fails tb if none comes within timeout or the process ends first.
func (o *output) waitLine(tb testing.TB, p *proc, timeout time.Duration, what string, match func(string) bool) string {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		o.mu.Lock()
		for ; seen < len(o.lines)+o.dropped; seen++ {
			if i := seen - o.dropped; i >= 0 && match(o.lines[i]) {
				line := o.lines[i]
				o.mu.Unlock()
				return line
			}
		}
		changed := o.changed
		o.mu.Unlock()
		select {
		case <-changed:
		case <-p.done:
			// The process may have written the line just before exiting.
			o.mu.Lock()
			for i := max(0, seen-o.dropped); i < len(o.lines); i++ {
				if match(o.lines[i]) {
					line := o.lines[i]
					o.mu.Unlock()
					return line
				}
			}
			o.mu.Unlock()
			tb.Fatalf("%s exited (%v) before %s", p.name, p.waitErr, what)
		case <-deadline.C:
			tb.Fatalf("%s: no %s within %s", p.name, what, timeout)
		}
	}
}

func (o *output) contains(s string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s == "WARNING: DATA RACE" && o.race {
		return true
	}
	for _, l := range o.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return strings.Contains(string(o.partial), s)
}

func (o *output) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	from := max(0, len(o.lines)-n)
	s := strings.Join(o.lines[from:], "\n")
	if len(o.partial) > 0 {
		s += "\n" + string(o.partial)
	}
	return s
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomHex returns n random bytes in hex, for names that must not clash
// with another test's or another run's.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// serverConfig is how a test wants a parley instance configured.
type serverConfig struct {
	DSN      string            // DATABASE_URL: the test's own database, from dbtest.DSN
	RedisURL string            // REDIS_URL; empty runs the in-process broker
	Prefix   string            // PARLEY_REDIS_PREFIX
	Env      map[string]string // anything else, overriding the defaults of startParley
	Bin      string            // the parley binary; empty for parleyBin
}

// instance is one running `parley serve`.
type instance struct {
	*proc
	Addr string // the host:port it listens on
	URL  string // http://Addr
}

// startParley runs `parley serve` on a free loopback port, waits until
// /readyz answers 200, and stops it with SIGTERM when tb ends (a non-zero
// exit status then fails the test). Rate limits are set out of reach unless
// cfg.Env sets them: only the test about them wants them.
func startParley(tb testing.TB, name string, cfg serverConfig) *instance {
	tb.Helper()
	env := map[string]string{
		"DATABASE_URL":              cfg.DSN,
		"PARLEY_ADDR":               "127.0.0.1:0",
		"PARLEY_JWT_SECRET":         testSecret,
		"PARLEY_LOG_FORMAT":         "json",
		"PARLEY_LOG_LEVEL":          "info",
		"PARLEY_SHUTDOWN_TIMEOUT":   "15s",
		"PARLEY_RATE_AUTH_IP":       "100000/1m",
		"PARLEY_RATE_AUTH_USERNAME": "100000/1m",
		"PARLEY_RATE_POST":          "100000/1s",
	}
	if cfg.RedisURL != "" {
		env["REDIS_URL"] = cfg.RedisURL
		env["PARLEY_REDIS_PREFIX"] = cfg.Prefix
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	// Only what is set here: a DATABASE_URL or REDIS_URL in the test's own
	// environment must not leak into the server.
	bin := cfg.Bin
	if bin == "" {
		bin = parleyBin
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if v := os.Getenv("TMPDIR"); v != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := startProc(tb, name, cmd, true)

	var addr string
	p.out.waitLine(tb, p, startTimeout, `the "listening" log line`, func(line string) bool {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "listening" {
			return false
		}
		addr = l.Addr
		return true
	})
	in := &instance{proc: p, Addr: addr, URL: "http://" + addr}
	waitReady(tb, in.URL, p)
	return in
}

// waitReady polls url's /readyz until it answers 200.
func waitReady(tb testing.TB, url string, p *proc) {
	tb.Helper()
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			tb.Fatalf("%s exited (%v) before it was ready", p.name, p.waitErr)
		}
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatalf("%s/readyz not ready within %s: %s", url, startTimeout, last)
}

// sharedRedis returns the harness's Redis (PARLEY_TEST_REDIS_URL) and a
// prefix no other test uses, for tests that do not restart Redis.
func sharedRedis(tb testing.TB) (url, prefix string) {
	tb.Helper()
	return redistest.URL(tb), redistest.Prefix()
}

// redisServer is a private redis-server, for tests that restart it.
type redisServer struct {
	*proc
	Port int
	URL  string
	dir  string
}

// startRedis starts redis-server (from PATH) on port, or on a free port if
// port is 0, without persistence, and waits until it answers PING.
func startRedis(tb testing.TB, port int) *redisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not on PATH: %v", err)
	}
	if port == 0 {
		port = freePort(tb)
	}
	dir := tb.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--logfile", "")
	p := startProc(tb, "redis-server:"+strconv.Itoa(port), cmd, false)
	r := &redisServer{proc: p, Port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), dir: dir}
	deadline := time.Now().Add(startTimeout)
	for {
		if err := redisPing(port); err == nil {
			return r
		} else if p.exited() || time.Now().After(deadline) {
			tb.Fatalf("redis-server on port %d did not start: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisPing sends PING over RESP and expects PONG.
func redisPing(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("redis answered " + strings.TrimSpace(line))
	}
	return nil
}

// within waits until cond is true, checking every few milliseconds, and fails
// tb with what if d passes first.
func within(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("%s: not within %s", what, d)
		case <-tick.C:
		}
	}
}

// awaitDone waits up to d for done to be closed, and fails tb naming what
// otherwise: a goroutine that never ends fails the test with a message
// rather than hanging until go test's timeout.
func awaitDone(tb testing.TB, done <-chan struct{}, d time.Duration, what string) {
	tb.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		tb.Errorf("%s: still running after %s", what, d)
	}
}
