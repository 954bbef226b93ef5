package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/api"
	"parley/model"
)

func TestMessageCreate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	general := alice.channel("general")
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", general)

	t.Run("KeepsBodyAsSent", func(t *testing.T) {
		t.Parallel()
		body := "  indented\n\tcode  \n"
		got := decodeJSON[messageJSON](alice.in(t).post(path, map[string]string{"body": body}).want(http.StatusCreated))
		if got.Body != body || got.ConversationID != general || got.SenderID != alice.ID || got.Seq < 1 || got.ClientMsgID != nil {
			t.Errorf("got %+v, want the body untrimmed from alice", got)
		}
	})
	t.Run("IdempotentRetry", func(t *testing.T) {
		t.Parallel()
		req := map[string]string{"body": "once", "client_msg_id": "retry-1"}
		first := decodeJSON[messageJSON](alice.in(t).post(path, req).want(http.StatusCreated))
		again := decodeJSON[messageJSON](alice.in(t).post(path, req).want(http.StatusOK))
		if first.ID != again.ID || first.Seq != again.Seq || again.ClientMsgID == nil || *again.ClientMsgID != "retry-1" {
			t.Errorf("got %+v then %+v, want the same message", first, again)
		}
		other := decodeJSON[messageJSON](alice.in(t).post(path, map[string]string{"body": "once", "client_msg_id": "retry-2"}).want(http.StatusCreated))
		if other.ID == first.ID {
			t.Error("got the same message for another client_msg_id")
		}
	})

	tests := []struct {
		name   string
		req    request
		status int
		code   model.Code
		field  string
	}{
		{"ErrEmpty", request{body: `{"body": ""}`, invalid: true}, 422, model.EInvalid, "body"},
		{"ErrMissing", request{body: `{}`, invalid: true}, 422, model.EInvalid, "body"},
		{"ErrBlank", request{body: `{"body": " \n\t "}`}, 422, model.EInvalid, "body"},
		{"ErrTooLong", request{body: `{"body": "` + strings.Repeat("é", model.MaxMessageLen+1) + `"}`, invalid: true}, 422, model.EInvalid, "body"},
		{"ErrControl", request{body: `{"body": "bell\u0007"}`}, 422, model.EInvalid, "body"},
		{"ErrClientMsgIDSpace", request{body: `{"body": "x", "client_msg_id": "a b"}`, invalid: true}, 422, model.EInvalid, "client_msg_id"},
		{"ErrClientMsgIDLong", request{body: `{"body": "x", "client_msg_id": "` + strings.Repeat("a", 65) + `"}`, invalid: true}, 422, model.EInvalid, "client_msg_id"},
		{"ErrMalformed", request{body: `{"body": "x"`, invalid: true}, 400, model.EMalformed, ""},
		{"ErrForm", request{body: `body=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, invalid: true}, 415, model.EUnsupportedMedia, ""},
		{"ErrTooLarge", request{body: `{"body": "` + strings.Repeat("a", 70<<10) + `"}`, invalid: true}, 413, model.ETooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.req.method, tt.req.path = http.MethodPost, path
			alice.in(t).do(tt.req).wantError(tt.status, tt.code, tt.field)
		})
	}
	t.Run("ErrNoSuchConversation", func(t *testing.T) {
		t.Parallel()
		alice.in(t).post("/api/v1/conversations/999999/messages", map[string]string{"body": "x"}).wantError(http.StatusNotFound, model.ENotFound, "")
		alice.in(t).do(request{method: http.MethodPost, path: "/api/v1/conversations/x/messages", body: map[string]string{"body": "x"}, invalid: true}).
			wantError(http.StatusNotFound, model.ENotFound, "")
	})
}

func TestMessageCreate_RateLimited(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) { cfg.Limits.PostPerUser = api.Rate{N: 2, Per: time.Hour} })
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	alice.send(conv, "one")
	alice.send(conv, "two")
	r := alice.post(fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]string{"body": "three"})
	r.wantError(http.StatusTooManyRequests, model.ERateLimited, "")
	wantRetryAfter(t, r, 1800) // one token per half hour
	bob.send(conv, "bob has his own budget")
}

func TestMessageList(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice := s.register(t, "alice")
	conv := alice.channel("general")
	for i := range 20 {
		alice.send(conv, fmt.Sprint("message ", i+1))
	}
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	seqs := func(p pageJSON[messageJSON]) []int64 {
		var out []int64
		for _, m := range p.Items {
			out = append(out, m.Seq)
		}
		return out
	}
	span := func(from, to int64) []int64 {
		var out []int64
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}

	tests := []struct {
		name    string
		query   string
		want    []int64
		hasMore bool
	}{
		{"DefaultIsLatest15", "", span(6, 20), true},
		{"Limit", "?limit=3", span(18, 20), true},
		{"Before", "?before=6", span(1, 5), false},
		{"BeforeLimit", "?before=10&limit=4", span(6, 9), true},
		{"After", "?after=15", span(16, 20), false},
		{"AfterLimit", "?after=0&limit=2", span(1, 2), true},
		{"AfterEnd", "?after=20", nil, false},
		{"Max", "?limit=100", span(1, 20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := decodeJSON[pageJSON[messageJSON]](alice.in(t).get(path + tt.query).want(http.StatusOK))
			if got := seqs(p); !slices.Equal(got, tt.want) || p.HasMore != tt.hasMore {
				t.Errorf("got %v (has_more %v), want %v (has_more %v)", got, p.HasMore, tt.want, tt.hasMore)
			}
		})
	}

	errs := []struct {
		name, query, field string
	}{
		{"ErrLimitZero", "?limit=0", "limit"},
		{"ErrLimitTooBig", "?limit=101", "limit"},
		{"ErrLimitWord", "?limit=all", "limit"},
		{"ErrBeforeZero", "?before=0", "before"},
		{"ErrAfterNegative", "?after=-1", "after"},
		{"ErrBeforeAndAfter", "?before=5&after=1", "after"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			alice.in(t).do(request{method: http.MethodGet, path: path + tt.query, invalid: tt.name != "ErrBeforeAndAfter"}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, tt.field)
		})
	}
}

func TestMessageList_HistoryLimitConfig(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(cfg *api.Config) { cfg.HistoryLimit = 4 })
	alice := s.register(t, "alice")
	conv := alice.channel("general")
	for range 6 {
		alice.send(conv, "hi")
	}
	p := decodeJSON[pageJSON[messageJSON]](alice.get(fmt.Sprintf("/api/v1/conversations/%d/messages", conv)).want(http.StatusOK))
	if len(p.Items) != 4 || p.Items[0].Seq != 3 || !p.HasMore {
		t.Errorf("got %d messages from seq %d, want the latest 4", len(p.Items), p.Items[0].Seq)
	}
}

// TestMessageList_PagingWhilePosting pages through history both ways while
// others post, and checks that no message is skipped or seen twice.
func TestMessageList_PagingWhilePosting(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	reader := s.register(t, "reader")
	conv := reader.channel("busy")
	const before, during = 30, 30
	for i := range before {
		reader.send(conv, fmt.Sprint("old ", i))
	}
	posters := []*user{s.register(t, "poster1"), s.register(t, "poster2")}
	for _, p := range posters {
		p.put(fmt.Sprintf("/api/v1/channels/%d/members/me", conv), nil).want(http.StatusOK)
	}

	var wg sync.WaitGroup
	for _, p := range posters {
		wg.Go(func() {
			for i := range during / len(posters) {
				// Not send: a goroutine other than the test's may not call t.Fatal.
				r := p.post(fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]string{"body": fmt.Sprint("new ", i)})
				if r.Status != http.StatusCreated {
					t.Errorf("post: got status %d, want 201", r.Status)
				}
			}
		})
	}

	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	page := func(query string) pageJSON[messageJSON] {
		return decodeJSON[pageJSON[messageJSON]](reader.get(path + query).want(http.StatusOK))
	}
	seen := map[int64]bool{}
	add := func(p pageJSON[messageJSON]) {
		for i, m := range p.Items {
			if seen[m.Seq] {
				t.Errorf("seq %d seen twice", m.Seq)
			}
			seen[m.Seq] = true
			if i > 0 && m.Seq != p.Items[i-1].Seq+1 {
				t.Errorf("page jumps from seq %d to %d", p.Items[i-1].Seq, m.Seq)
			}
		}
	}
	first := page("?limit=7")
	add(first)
	oldest, newest := first.Items[0].Seq, first.Items[len(first.Items)-1].Seq
	for more := first.HasMore; more; {
		p := page(fmt.Sprintf("?limit=7&before=%d", oldest))
		add(p)
		if len(p.Items) > 0 {
			if p.Items[len(p.Items)-1].Seq != oldest-1 {
				t.Fatalf("page before %d ends at %d, want %d", oldest, p.Items[len(p.Items)-1].Seq, oldest-1)
			}
			oldest = p.Items[0].Seq
		}
		more = p.HasMore
	}
	forward := func() {
		for more := true; more; {
			p := page(fmt.Sprintf("?limit=7&after=%d", newest))
			add(p)
			if len(p.Items) > 0 {
				if p.Items[0].Seq != newest+1 {
					t.Fatalf("page after %d starts at %d, want %d", newest, p.Items[0].Seq, newest+1)
				}
				newest = p.Items[len(p.Items)-1].Seq
			}
			more = p.HasMore
		}
	}
	forward() // while the posters may still be at it
	wg.Wait()
	forward() // and what they posted since

	if oldest != 1 || newest != before+during || len(seen) != before+during {
		t.Errorf("got seqs %d to %d, %d distinct; want 1 to %d, each once", oldest, newest, len(seen), before+during)
	}
}

func TestMessageGet(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob := s.register(t, "alice"), s.register(t, "bob")
	conv := alice.direct(bob)
	m1, m2 := alice.send(conv, "one"), bob.send(conv, "two")
	other := alice.send(alice.channel("mine"), "not bob's to see")

	got := decodeJSON[messageJSON](bob.get(fmt.Sprintf("/api/v1/messages/%d", m1.ID)).want(http.StatusOK))
	if got.ID != m1.ID || got.Body != "one" {
		t.Errorf("got %+v, want message one", got)
	}
	bob.get("/api/v1/messages/999999").wantError(http.StatusNotFound, model.ENotFound, "")

	batch := func(t *testing.T, ids string) []int64 {
		t.Helper()
		p := decodeJSON[pageJSON[messageJSON]](bob.in(t).get("/api/v1/messages?ids=" + ids).want(http.StatusOK))
		var out []int64
		for _, m := range p.Items {
			out = append(out, m.ID)
		}
		return out
	}
	if got, want := batch(t, fmt.Sprintf("%d,%d,%d,999999", m2.ID, other.ID, m1.ID)), []int64{m1.ID, m2.ID}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v: readable ones only, by id", got, want)
	}

	ids := make([]string, model.MaxBatchIDs+1)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	errs := []struct{ name, query string }{
		{"ErrMissing", ""},
		{"ErrEmpty", "?ids="},
		{"ErrWord", "?ids=1,two"},
		{"ErrZero", "?ids=0"},
		{"ErrTrailingComma", "?ids=1,"},
		{"ErrTooMany", "?ids=" + strings.Join(ids, ",")},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bob.in(t).do(request{method: http.MethodGet, path: "/api/v1/messages" + tt.query, invalid: true}).
				wantError(http.StatusUnprocessableEntity, model.EInvalid, "ids")
		})
	}
	t.Run("OKMax", func(t *testing.T) {
		t.Parallel()
		if got := batch(t, strings.Join(ids[:model.MaxBatchIDs], ",")); len(got) != 2 {
			t.Errorf("got %v, want the two readable ones", got)
		}
	})
}

func TestMessageUpdate(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob, eve := s.register(t, "alice"), s.register(t, "bob"), s.register(t, "eve")
	conv := alice.direct(bob)
	msg := alice.send(conv, "tpyo")
	path := fmt.Sprintf("/api/v1/messages/%d", msg.ID)

	got := decodeJSON[messageJSON](alice.patch(path, map[string]string{"body": "typo"}).want(http.StatusOK))
	if got.Body != "typo" || got.EditedAt == nil || got.Seq != msg.Seq {
		t.Errorf("got %+v, want the new body, edited_at set, the same seq", got)
	}
	bob.patch(path, map[string]string{"body": "not mine"}).wantError(http.StatusForbidden, model.EForbidden, "")
	eve.patch(path, map[string]string{"body": "not mine"}).wantError(http.StatusNotFound, model.ENotFound, "")
	alice.patch(path, map[string]string{"body": "   "}).wantError(http.StatusUnprocessableEntity, model.EInvalid, "body")
	alice.do(request{method: http.MethodPatch, path: path, body: `{"body": "x", "seq": 1}`, invalid: true}).wantError(http.StatusBadRequest, model.EMalformed, "")
	alice.delete(path).want(http.StatusOK)
	alice.patch(path, map[string]string{"body": "too late"}).wantError(http.StatusConflict, model.EConflict, "")
	alice.patch("/api/v1/messages/999999", map[string]string{"body": "x"}).wantError(http.StatusNotFound, model.ENotFound, "")
}

func TestMessageDelete(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	alice, bob, eve := s.register(t, "alice"), s.register(t, "bob"), s.register(t, "eve")
	admin := s.admin(t, "root")
	conv := alice.direct(bob)

	t.Run("Sender", func(t *testing.T) {
		t.Parallel()
		msg := alice.in(t).send(conv, "oops")
		got := decodeJSON[messageJSON](alice.in(t).delete(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).want(http.StatusOK))
		if got.Body != "" || got.DeletedAt == nil || got.Seq != msg.Seq {
			t.Errorf("got %+v, want no body, deleted_at set, the same seq", got)
		}
		alice.in(t).delete(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).want(http.StatusOK) // twice is fine
		kept := decodeJSON[messageJSON](bob.in(t).get(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).want(http.StatusOK))
		if kept.DeletedAt == nil || kept.Body != "" {
			t.Errorf("got %+v, want the deleted message without its body", kept)
		}
	})
	t.Run("Admin", func(t *testing.T) {
		t.Parallel()
		msg := alice.in(t).send(conv, "spam")
		got := decodeJSON[messageJSON](admin.in(t).delete(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).want(http.StatusOK))
		if got.DeletedAt == nil {
			t.Errorf("got %+v, want it deleted", got)
		}
	})
	t.Run("ErrOtherMember", func(t *testing.T) {
		t.Parallel()
		msg := alice.in(t).send(conv, "mine")
		bob.in(t).delete(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).wantError(http.StatusForbidden, model.EForbidden, "")
	})
	t.Run("ErrOutsider", func(t *testing.T) {
		t.Parallel()
		msg := alice.in(t).send(conv, "private")
		eve.in(t).delete(fmt.Sprintf("/api/v1/messages/%d", msg.ID)).wantError(http.StatusNotFound, model.ENotFound, "")
	})
}

// TestMessageCreate_ConcurrentSeq posts from 50 goroutines at once and checks
// that the conversation's seqs are exactly 1 to N.
func TestMessageCreate_ConcurrentSeq(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	owner := s.register(t, "owner")
	conv := owner.channel("busy")
	var posters []*user
	for i := range 5 {
		u := s.register(t, fmt.Sprint("poster", i))
		u.put(fmt.Sprintf("/api/v1/channels/%d/members/me", conv), nil).want(http.StatusOK)
		posters = append(posters, u)
	}
	const goroutines, each = 50, 2
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	var wg sync.WaitGroup
	for g := range goroutines {
		u := posters[g%len(posters)]
		wg.Go(func() {
			for i := range each {
				r := u.post(path, map[string]string{"body": fmt.Sprint(g, "/", i)})
				if r.Status != http.StatusCreated {
					t.Errorf("post: got status %d, want 201", r.Status)
				}
			}
		})
	}
	wg.Wait()

	p := decodeJSON[pageJSON[messageJSON]](owner.get(path + "?limit=100").want(http.StatusOK))
	for i, m := range p.Items {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d, want %d: seqs must have no holes", i, m.Seq, i+1)
		}
	}
	if len(p.Items) != goroutines*each || p.HasMore {
		t.Errorf("got %d messages (has_more %v), want %d", len(p.Items), p.HasMore, goroutines*each)
	}
}
