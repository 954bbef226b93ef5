package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/internal/dbtest"
	"parley/notify/notifytest"
	"parley/push"
)

// pushTimeout bounds how long a push may take to arrive: the collapse
// window, the worker's poll, and retries with a short base, on a loaded
// machine under -race.
const pushTimeout = 20 * time.Second

// pushCollapse is the tests' PARLEY_PUSH_COLLAPSE.
const pushCollapse = 1500 * time.Millisecond

// delivery is one push request a receiver got.
type delivery struct {
	Path    string
	Header  http.Header
	Body    []byte // as received: encrypted for Web Push
	Status  int    // what the receiver answered
	Payload []byte // decrypted (Web Push) or as is (UnifiedPush)
}

// receiver is a push service on loopback: Web Push subscriptions whose
// payloads it decrypts with their private keys (RFC 8291), and UnifiedPush
// endpoints that answer as each test needs.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
	// status, by path, answers each request in turn; past its end, 201.
	status   map[string][]int
	subs     map[string]*subscription // Web Push, by path
	vapid    *ecdsa.PublicKey         // the server's VAPID key, to check signatures
	vapidRaw []byte                   // the same, as sent in k=
}

// subscription is a browser's side of a Web Push subscription.
type subscription struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newReceiver(tb testing.TB, vapidPublic string) *receiver {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(vapidPublic)
	if err != nil {
		tb.Fatalf("vapid public key: %v", err)
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		tb.Fatalf("vapid public key: %v", err)
	}
	r := &receiver{status: map[string][]int{}, subs: map[string]*subscription{}, vapid: key, vapidRaw: raw}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	d := delivery{Path: req.URL.Path, Header: req.Header.Clone(), Body: body, Status: http.StatusCreated, Payload: body}
	if q := r.status[d.Path]; len(q) > 0 {
		d.Status, r.status[d.Path] = q[0], q[1:]
	}
	if sub := r.subs[d.Path]; sub != nil && d.Status < 300 {
		var err error
		if d.Payload, err = sub.decrypt(body); err != nil {
			d.Payload = []byte("decrypt: " + err.Error())
		}
		if err := r.checkVAPID(req); err != nil {
			d.Payload = []byte("vapid: " + err.Error())
		}
	}
	r.got = append(r.got, d)
	w.WriteHeader(d.Status)
}

// checkVAPID verifies the RFC 8292 Authorization header: a JWT signed by
// the server's key, for this push service's origin.
func (r *receiver) checkVAPID(req *http.Request) error {
	h := req.Header.Get("Authorization")
	t, k, ok := strings.Cut(strings.TrimPrefix(h, "vapid t="), ", k=")
	if !ok {
		return fmt.Errorf("authorization %q is not vapid t=…, k=…", h)
	}
	if !bytes.Equal(mustB64(k), r.vapidRaw) {
		return errors.New("k is not the server's VAPID key")
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(t, claims, func(*jwt.Token) (any, error) { return r.vapid, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(r.srv.URL)); err != nil {
		return err
	}
	return nil
}

func mustB64(s string) []byte {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return b
}

// webpush registers a new subscription at a fresh path and returns the
// device request a browser would send for it.
func (r *receiver) webpush(tb testing.TB, name string) map[string]any {
	tb.Helper()
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	path := "/wp/" + name
	r.mu.Lock()
	r.subs[path] = &subscription{key: key, auth: auth}
	r.mu.Unlock()
	return map[string]any{"kind": "webpush", "endpoint": r.srv.URL + path, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(auth),
	}}
}

// unifiedpush returns the device request of an endpoint at path that
// answers statuses in turn, then 201.
func (r *receiver) unifiedpush(path string, statuses ...int) map[string]any {
	r.mu.Lock()
	r.status[path] = statuses
	r.mu.Unlock()
	return map[string]any{"kind": "unifiedpush", "endpoint": r.srv.URL + path}
}

// at returns what path got so far.
func (r *receiver) at(path string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.Path == path {
			out = append(out, d)
		}
	}
	return out
}

// delivered returns the successful deliveries to path.
func (r *receiver) delivered(path string) []delivery {
	var out []delivery
	for _, d := range r.at(path) {
		if d.Status < 300 {
			out = append(out, d)
		}
	}
	return out
}

// decrypt undoes RFC 8291 (aes128gcm, RFC 8188) with the subscription's
// private key.
func (s *subscription) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, errors.New("bad header")
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("keyid: %w", err)
	}
	shared, err := s.key.ECDH(as)
	if err != nil {
		return nil, err
	}
	prkKey, err := hkdf.Extract(sha256.New, shared, s.auth)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), s.key.PublicKey().Bytes()...), asPublic...)
	ikm, err := hkdf.Expand(sha256.New, prkKey, string(info), 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	// One record: the content, then the last-record delimiter 2, then zeros.
	end := bytes.LastIndexFunc(plain, func(r rune) bool { return r != 0 })
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:end], nil
}

// pushBody is what a push says.
type pushBody struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id"`
	MessageID      int64  `json:"message_id"`
	Seq            int64  `json:"seq"`
}

// decodePush decodes a push's payload, failing tb unless it holds exactly
// the fields of asyncapi.yaml's PushMessage without a sender's name.
func decodePush(tb testing.TB, d delivery) pushBody {
	tb.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(d.Payload, &fields); err != nil {
		tb.Fatalf("push payload %q: %v", d.Payload, err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"conversation_id", "message_id", "seq", "type"}; !slices.Equal(keys, want) {
		tb.Fatalf("push payload %s: got fields %v, want %v", d.Payload, keys, want)
	}
	if err := notifytest.CheckPush(d.Payload); err != nil {
		tb.Fatal(err)
	}
	var b pushBody
	_ = json.Unmarshal(d.Payload, &b)
	return b
}

// pushEnv is the push settings every process of these tests shares.
func pushEnv(tb testing.TB) (env map[string]string, vapidPublic string) {
	tb.Helper()
	private, err := push.GenerateVAPIDKey()
	if err != nil {
		tb.Fatal(err)
	}
	public, _ := push.VAPIDPublicKey(private)
	return map[string]string{
		"PARLEY_VAPID_PRIVATE_KEY":        private,
		"PARLEY_PUSH_ALLOW_LOOPBACK_HTTP": "true",
		"PARLEY_PUSH_COLLAPSE":            pushCollapse.String(),
		"PARLEY_PUSH_RETRY_BASE":          "100ms",
		"PARLEY_TASK_MAX_ATTEMPTS":        "4",
		"PARLEY_RETENTION_INTERVAL":       "1s",
		"PARLEY_RUN_TASKS":                "false", // the worker runs them
	}, public
}

// startWorker runs `parley worker` with env and waits until it works.
func startWorker(tb testing.TB, name string, cfg serverConfig) *proc {
	tb.Helper()
	cmd := exec.Command(parleyBin, "worker")
	cmd.Env = processEnv(map[string]string{
		"DATABASE_URL": cfg.DSN, "REDIS_URL": cfg.RedisURL, "PARLEY_REDIS_PREFIX": cfg.Prefix,
		"PARLEY_LOG_FORMAT": "json",
	}, cfg.Env)
	p := startProc(tb, name, cmd, true)
	p.out.waitLine(tb, p, startTimeout, `the "worker running" log line`, func(line string) bool {
		return strings.Contains(line, `"msg":"worker running"`)
	})
	return p
}

// processEnv is PATH (and TMPDIR) plus the maps, later ones winning.
func processEnv(maps ...map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if v := os.Getenv("TMPDIR"); v != "" {
		env = append(env, "TMPDIR="+v)
	}
	merged := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			merged[k] = v
		}
	}
	for k, v := range merged {
		env = append(env, k+"="+v)
	}
	return env
}

// runTasksCmd runs `parley tasks ARGS…` and returns its standard output.
func runTasksCmd(tb testing.TB, dsn string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(parleyBin, append([]string{"tasks"}, args...)...)
	cmd.Env = processEnv(map[string]string{"DATABASE_URL": dsn})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("parley tasks %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// registerDevice registers req for u and returns the device's id.
func registerDevice(tb testing.TB, base string, u *user, req map[string]any) int64 {
	tb.Helper()
	var d struct {
		ID int64 `json:"id"`
	}
	must(tb, base, u.Access, http.MethodPost, "/api/v1/devices", req, &d, http.StatusCreated)
	return d.ID
}

// TestPush runs two API instances (which run no tasks) and a `parley
// worker` on one database and Redis, with a push receiver on loopback.
func TestPush(t *testing.T) {
	t.Parallel()
	env, vapidPublic := pushEnv(t)
	dsn := dbtest.DSN(t)
	redisURL, prefix := sharedRedis(t)
	cfg := serverConfig{DSN: dsn, RedisURL: redisURL, Prefix: prefix, Env: env}
	a := startParley(t, "parley-a", cfg)
	b := startParley(t, "parley-b", cfg)
	startWorker(t, "parley-worker", cfg)
	rcv := newReceiver(t, vapidPublic)

	var key struct {
		PublicKey string `json:"public_key"`
	}
	must(t, a.URL, "", http.MethodGet, "/api/v1/push/vapid-key", nil, &key, http.StatusOK)
	if key.PublicKey != vapidPublic {
		t.Fatalf("vapid-key: got %q, want %q", key.PublicKey, vapidPublic)
	}

	t.Run("WebPushOnePerBurst", func(t *testing.T) {
		alice, bob := register(t, a.URL, "alice"), register(t, a.URL, "bob")
		conv := createChannel(t, a.URL, alice, "burst")
		join(t, a.URL, bob, conv)
		registerDevice(t, a.URL, bob, rcv.webpush(t, "bob"))
		var last message
		var texts []string
		for i := range 5 {
			text := fmt.Sprintf("secret text %d", i)
			texts = append(texts, text)
			last = post(t, b.URL, alice, conv, text)
		}
		within(t, pushTimeout, "bob's Web Push", func() bool { return len(rcv.delivered("/wp/bob")) > 0 })
		// Long enough for a second push, had the burst not collapsed.
		time.Sleep(2 * pushCollapse)
		got := rcv.delivered("/wp/bob")
		if len(got) != 1 {
			t.Fatalf("bob got %d pushes for a burst of 5, want 1", len(got))
		}
		d := got[0]
		for _, text := range texts {
			if bytes.Contains(d.Payload, []byte(text)) || bytes.Contains(d.Body, []byte(text)) {
				t.Fatalf("the push holds the message text %q: %s", text, d.Payload)
			}
		}
		if p := decodePush(t, d); p != (pushBody{Type: "message.created", ConversationID: conv, MessageID: last.ID, Seq: 5}) {
			t.Fatalf("push: got %+v, want the burst's last message (id %d, seq 5)", p, last.ID)
		}
		if d.Header.Get("Content-Encoding") != "aes128gcm" || d.Header.Get("Topic") != push.Topic ||
			d.Header.Get("Urgency") != "high" || d.Header.Get("TTL") == "" {
			t.Fatalf("push headers: Content-Encoding %q Topic %q Urgency %q TTL %q",
				d.Header.Get("Content-Encoding"), d.Header.Get("Topic"), d.Header.Get("Urgency"), d.Header.Get("TTL"))
		}
	})

	t.Run("UnifiedPushRetried", func(t *testing.T) {
		alice, carol := register(t, a.URL, "alice"), register(t, a.URL, "carol")
		conv := createChannel(t, a.URL, alice, "flaky")
		join(t, a.URL, carol, conv)
		registerDevice(t, a.URL, carol, rcv.unifiedpush("/up/carol", 503, 500))
		m := post(t, a.URL, alice, conv, "hello carol")
		within(t, pushTimeout, "carol's push after two failures", func() bool { return len(rcv.delivered("/up/carol")) > 0 })
		if n := len(rcv.at("/up/carol")); n != 3 {
			t.Fatalf("carol's endpoint got %d requests, want 3 (two failures, then the push)", n)
		}
		if p := decodePush(t, rcv.delivered("/up/carol")[0]); p.MessageID != m.ID || p.Seq != m.Seq {
			t.Fatalf("push: got %+v, want message %d seq %d", p, m.ID, m.Seq)
		}
	})

	t.Run("GoneRemovesDevice", func(t *testing.T) {
		alice, dave := register(t, a.URL, "alice"), register(t, a.URL, "dave")
		conv := createChannel(t, a.URL, alice, "gone")
		join(t, a.URL, dave, conv)
		registerDevice(t, a.URL, dave, rcv.unifiedpush("/up/dave", http.StatusGone))
		post(t, a.URL, alice, conv, "anyone there?")
		within(t, pushTimeout, "dave's device removed", func() bool {
			var l struct {
				Items []json.RawMessage `json:"items"`
			}
			must(t, a.URL, dave.Access, http.MethodGet, "/api/v1/devices", nil, &l, http.StatusOK)
			return len(l.Items) == 0
		})
		if n := len(rcv.at("/up/dave")); n != 1 {
			t.Fatalf("dave's endpoint got %d requests, want 1 (410 is not retried)", n)
		}
	})

	t.Run("OnlineElsewhereNoPush", func(t *testing.T) {
		alice, erin, frank := register(t, a.URL, "alice"), register(t, a.URL, "erin"), register(t, a.URL, "frank")
		conv := createChannel(t, a.URL, alice, "online")
		join(t, a.URL, erin, conv)
		join(t, a.URL, frank, conv)
		registerDevice(t, a.URL, erin, rcv.unifiedpush("/up/erin"))
		registerDevice(t, a.URL, frank, rcv.unifiedpush("/up/frank"))
		streamSSE(t, b.URL, erin) // erin is online on instance b
		within(t, deliveryTimeout, "erin online", func() bool {
			var u struct {
				Online bool `json:"online"`
			}
			must(t, a.URL, alice.Access, http.MethodGet, fmt.Sprintf("/api/v1/users/%d", erin.ID), nil, &u, http.StatusOK)
			return u.Online
		})
		post(t, a.URL, alice, conv, "who is here?")
		// frank, offline, is in the same task: once his push is in, erin's
		// fate was decided too.
		within(t, pushTimeout, "frank's push", func() bool { return len(rcv.delivered("/up/frank")) > 0 })
		time.Sleep(pushCollapse)
		if n := len(rcv.at("/up/erin")); n != 0 {
			t.Fatalf("erin, online on another instance, got %d pushes, want 0", n)
		}
	})

	t.Run("DeadLetterRetried", func(t *testing.T) {
		alice, gina := register(t, a.URL, "alice"), register(t, a.URL, "gina")
		conv := createChannel(t, a.URL, alice, "dead")
		join(t, a.URL, gina, conv)
		registerDevice(t, a.URL, gina, rcv.unifiedpush("/up/gina", 500, 500, 500, 500)) // every attempt of 4
		m := post(t, a.URL, alice, conv, "you will not hear this")
		var id string
		within(t, pushTimeout, "gina's push among the dead letters", func() bool {
			for _, line := range strings.Split(runTasksCmd(t, dsn, "list"), "\n") {
				if f := strings.Fields(line); len(f) > 3 && f[1] == "push" && f[2] == "discarded" &&
					strings.Contains(line, fmt.Sprintf(`"conversation_id":%d`, conv)) {
					id = f[0]
					return true
				}
			}
			return false
		})
		if n := len(rcv.at("/up/gina")); n != 4 {
			t.Fatalf("gina's endpoint got %d requests, want 4 (PARLEY_TASK_MAX_ATTEMPTS)", n)
		}
		// The endpoint works again (its failures are used up); the operator retries.
		if out := runTasksCmd(t, dsn, "retry", id); !strings.Contains(out, "available") {
			t.Fatalf("tasks retry %s: %q", id, out)
		}
		within(t, pushTimeout, "gina's push after the retry", func() bool { return len(rcv.delivered("/up/gina")) > 0 })
		if p := decodePush(t, rcv.delivered("/up/gina")[0]); p.MessageID != m.ID {
			t.Fatalf("push: got %+v, want message %d", p, m.ID)
		}
	})

	t.Run("RetentionWhilePosting", func(t *testing.T) {
		alice, bob, carol := register(t, a.URL, "alice"), register(t, a.URL, "bob"), register(t, a.URL, "carol")
		conv := createChannel(t, a.URL, alice, "retention")
		join(t, a.URL, bob, conv)
		join(t, a.URL, carol, conv) // reads nothing
		path := fmt.Sprintf("/api/v1/channels/%d", conv)
		must(t, a.URL, bob.Access, http.MethodPatch, path, map[string]any{"retention_days": 1}, nil, http.StatusForbidden)
		for i := range 30 {
			post(t, a.URL, alice, conv, fmt.Sprintf("old %d", i))
		}
		// The first 20 are two days old.
		execDB(t, dsn, `UPDATE messages SET created_at = created_at - interval '2 days' WHERE conversation_id = $1 AND seq <= 20`, conv)
		var posting sync.WaitGroup
		var posted atomic.Int64
		posting.Go(func() {
			for i := range 30 {
				post(t, b.URL, bob, conv, fmt.Sprintf("new %d", i))
				posted.Add(1)
			}
		})
		var c struct {
			RetentionDays   *int  `json:"retention_days"`
			HistoryStartSeq int64 `json:"history_start_seq"`
		}
		must(t, a.URL, alice.Access, http.MethodPatch, path, map[string]any{"retention_days": 1}, &c, http.StatusOK)
		if c.RetentionDays == nil || *c.RetentionDays != 1 {
			t.Fatalf("retention_days: got %v, want 1", c.RetentionDays)
		}
		within(t, pushTimeout, "retention", func() bool {
			must(t, a.URL, bob.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &c, http.StatusOK)
			return c.HistoryStartSeq == 21
		})
		posting.Wait()
		seqs := seqs(dbHistory(t, dsn, conv))
		want := make([]int64, 0, 40)
		for s := int64(21); s <= 60; s++ {
			want = append(want, s)
		}
		if !slices.Equal(seqs, want) {
			t.Fatalf("seqs kept: got %v, want 21..60", seqs)
		}
		var unread struct {
			UnreadCount int64 `json:"unread_count"`
		}
		must(t, a.URL, carol.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &unread, http.StatusOK)
		if unread.UnreadCount != 40 {
			t.Fatalf("carol's unread count: got %d, want 40 (the messages kept)", unread.UnreadCount)
		}
		var page messagePage
		must(t, a.URL, bob.Access, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/messages?after=0&limit=5", conv), nil, &page, http.StatusOK)
		if len(page.Items) == 0 || page.Items[0].Seq != 21 {
			t.Fatalf("history after=0 starts at %v, want seq 21", page.Items)
		}
	})

	// Last: it kills instance a.
	t.Run("KilledAfterCommit", func(t *testing.T) {
		alice, hank := register(t, a.URL, "alice"), register(t, a.URL, "hank")
		conv := createChannel(t, a.URL, alice, "killed")
		join(t, a.URL, hank, conv)
		registerDevice(t, a.URL, hank, rcv.unifiedpush("/up/hank"))
		m := post(t, a.URL, alice, conv, "last words")
		a.kill() // SIGKILL the moment the 201 is in: nothing after the commit runs
		within(t, pushTimeout, "hank's push", func() bool { return len(rcv.delivered("/up/hank")) > 0 })
		if p := decodePush(t, rcv.delivered("/up/hank")[0]); p.MessageID != m.ID {
			t.Fatalf("push: got %+v, want message %d", p, m.ID)
		}
	})
}

// execDB runs one statement on the database at dsn.
func execDB(tb testing.TB, dsn, q string, args ...any) {
	tb.Helper()
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}
