package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/dbtest"
)

// plainBin builds parley without the race detector, once, for the tests
// that measure the server's memory: the race detector multiplies it.
var plainBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "parley-e2e-plain-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "parley")
	out, err := exec.Command("go", "build", "-o", bin, "parley/cmd/parley").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// peakRSS returns the resident-memory high-water mark of process pid, in
// bytes, from /proc (VmHWM).
func peakRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatalf("read process status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc status")
	return 0
}

// TestHostile_HashingBurst sends logins and registrations at once from 64
// client addresses (127.0.0.1–64, each within its rate limits) to a server
// built without the race detector, and checks that memory stays bounded
// (each argon2id hash holds 19 MiB; unbounded, 60 at once took a server past
// 1 GiB), that every answer is a success, a wrong password or a deliberate
// 503 with Retry-After, and that the rest of the API answers meanwhile.
func TestHostile_HashingBurst(t *testing.T) {
	bin, err := plainBin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(bin)) }) // the one test that uses it
	srv := startParley(t, "parley", serverConfig{DSN: dbtest.DSN(t), Bin: bin, Env: map[string]string{
		"PARLEY_RATE_AUTH_IP": "30/1m", "PARLEY_RATE_AUTH_USERNAME": "100000/1m",
	}})
	victim := register(t, srv.URL, "victim")
	idle := peakRSS(t, srv.cmd.Process.Pid)

	const addrs, perAddr = 64, 8 // 4 logins and 4 registrations from each, within 30/1m
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		problems []string
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for a := 1; a <= addrs; a++ {
		client := &http.Client{Transport: &http.Transport{
			DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(a))}}).DialContext,
			MaxConnsPerHost: perAddr,
		}}
		for i := range perAddr {
			wg.Go(func() {
				path, body := "/api/v1/auth/login", map[string]string{"username": victim.Name, "password": "a wrong password"}
				if i%2 == 1 {
					path, body = "/api/v1/auth/register", map[string]string{"username": fmt.Sprintf("burst_%d_%d_%s", a, i, randomHex(2)), "password": "a long enough password"}
				}
				b, _ := json.Marshal(body)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					problems = append(problems, err.Error())
					return
				}
				defer resp.Body.Close()
				statuses[resp.StatusCode]++
				switch resp.StatusCode {
				case http.StatusOK, http.StatusCreated, http.StatusUnauthorized:
				case http.StatusServiceUnavailable:
					if resp.Header.Get("Retry-After") == "" {
						problems = append(problems, "a 503 without Retry-After")
					}
				default:
					problems = append(problems, fmt.Sprintf("%s %s: status %d", req.Method, path, resp.StatusCode))
				}
			})
		}
	}
	// The rest of the API answers while the passwords queue.
	var me struct {
		ID int64 `json:"id"`
	}
	must(t, srv.URL, victim.Access, http.MethodGet, "/api/v1/me", nil, &me, http.StatusOK)
	wg.Wait()

	peak := peakRSS(t, srv.cmd.Process.Pid)
	t.Logf("%d logins and registrations at once from %d addresses: statuses %v; resident memory %d MiB idle, %d MiB at peak",
		addrs*perAddr, addrs, statuses, idle>>20, peak>>20)
	if len(problems) > 0 {
		t.Errorf("got %d unexpected answers, e.g. %v", len(problems), problems[:min(5, len(problems))])
	}
	if statuses[http.StatusCreated] == 0 || statuses[http.StatusUnauthorized] == 0 {
		t.Errorf("got statuses %v; want some registrations and wrong-password logins to get through", statuses)
	}
	const limit = 256 << 20
	if peak > limit {
		t.Errorf("peak resident memory %d MiB during the burst, want under %d MiB", peak>>20, limit>>20)
	}
}
