// Package testserver runs real `parley serve` processes for tests that act
// as clients (the client package's, the terminal client's): it builds
// ./cmd/parley once per test binary and starts instances on free loopback
// ports, on a fresh database from db/dbtest and, when asked, the harness's
// Redis. It is imported by tests only.
package testserver

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // to create the examples' database

	"parley/internal/dbtest"
	"parley/internal/redistest"
)

// Secret signs every instance's access tokens, so a token from one works on
// all.
const Secret = "testserver-secret-testserver-secret-0123"

// startTimeout bounds how long an instance may take to come up: the machine
// is small and shared, so it is generous.
const startTimeout = 60 * time.Second

var binDir string

// Main builds ./cmd/parley, runs the tests and removes the binary. Call it
// from TestMain: os.Exit(testserver.Main(m)).
func Main(m *testing.M) int {
	return mainWith(m, func(string) (func(), error) { return func() {}, nil })
}

func mainWith(m *testing.M, setup func(bin string) (teardown func(), err error)) int {
	dir, err := os.MkdirTemp("", "parley-testserver-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "parley"), "parley/cmd/parley")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: go build parley/cmd/parley: %v\n", err)
		return 1
	}
	binDir = dir
	teardown, err := setup(filepath.Join(dir, "parley"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		return 1
	}
	defer teardown()
	return m.Run()
}

// Bin returns the path of the parley binary Main built.
func Bin(tb testing.TB) string {
	tb.Helper()
	if binDir == "" {
		tb.Fatal("testserver: call testserver.Main from TestMain")
	}
	return filepath.Join(binDir, "parley")
}

// Deployment is a database (and Redis prefix) that instances share.
type Deployment struct {
	DSN    string
	Redis  string // empty: one instance with its in-process broker
	Prefix string
}

// NewDeployment returns a fresh database, with the harness's Redis under a
// prefix of its own when redis is set.
func NewDeployment(tb testing.TB, redis bool) Deployment {
	tb.Helper()
	d := Deployment{DSN: dbtest.DSN(tb)}
	if redis {
		d.Redis, d.Prefix = redistest.URL(tb), redistest.Prefix()
	}
	return d
}

// Server is one running `parley serve`.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  []string
}

// Start runs an instance of d with env added to its environment, waits
// until it is ready, and stops it when tb ends.
func (d Deployment) Start(tb testing.TB, env ...string) *Server {
	tb.Helper()
	s, err := d.start(Bin(tb), env)
	if s != nil {
		tb.Cleanup(func() {
			s.Stop()
			if tb.Failed() {
				tb.Logf("--- log of parley at %s:\n%s", s.URL, s.Log())
			}
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (d Deployment) start(bin string, env []string) (*Server, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + d.DSN,
		"PARLEY_ADDR=127.0.0.1:0",
		"PARLEY_JWT_SECRET=" + Secret,
		"PARLEY_LOG_FORMAT=json",
		"PARLEY_SHUTDOWN_TIMEOUT=5s",
		"PARLEY_DRAIN_DELAY=0s",
		"PARLEY_RATE_AUTH_IP=100000/1m",
		"PARLEY_RATE_AUTH_USERNAME=100000/1m",
		"PARLEY_RATE_POST=100000/1s",
	}
	if d.Redis != "" {
		cmd.Env = append(cmd.Env, "REDIS_URL="+d.Redis, "PARLEY_REDIS_PREFIX="+d.Prefix)
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start parley: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go s.readLog(stderr, addr)
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		return s, fmt.Errorf("parley exited before listening:\n%s", s.Log())
	case <-time.After(startTimeout):
		return s, fmt.Errorf("parley did not listen within %s:\n%s", startTimeout, s.Log())
	}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("parley at %s not ready within %s", s.URL, startTimeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// MainWithServer is Main for packages whose runnable examples need a
// server, since examples get no testing.TB: it also starts one instance on
// a database of its own, sets *url to its address for the run, and removes
// both afterwards.
func MainWithServer(m *testing.M, url *string) int {
	return mainWith(m, func(bin string) (func(), error) {
		admin := os.Getenv(dbtest.EnvDatabaseURL)
		if admin == "" {
			return nil, fmt.Errorf("%s is not set; run the tests with make test", dbtest.EnvDatabaseURL)
		}
		db, err := sql.Open("postgres", admin)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("parley_examples_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
		if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("create database: %w", err)
		}
		drop := func() {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			_ = db.Close()
		}
		dsn, err := dbtest.WithDatabase(admin, name)
		if err != nil {
			drop()
			return nil, err
		}
		s, err := Deployment{DSN: dsn}.start(bin, nil)
		if s != nil && err != nil {
			s.Kill()
		}
		if err != nil {
			drop()
			return nil, err
		}
		*url = s.URL
		return func() { s.Stop(); drop() }, nil
	})
}

func (s *Server) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.log = append(s.log, line)
		if len(s.log) > 2000 {
			s.log = s.log[1000:]
		}
		s.mu.Unlock()
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
			select {
			case addr <- l.Addr:
			default:
			}
		}
	}
}

// Log returns what the instance has logged.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, "\n")
}

// Stop ends the instance gracefully (SIGTERM) and waits for it; after 20 s
// it is killed.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.Kill()
	}
}

// Kill ends the instance at once, as a crash would.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}
