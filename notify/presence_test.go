package notify

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"parley/internal/redistest"
	"parley/model"
)

// testPresence is the contract every Presence meets as one instance sees
// it.
func testPresence(t *testing.T, p Presence) {
	ctx := context.Background()
	join := func(users ...model.UserID) []model.UserID { return mustOp(t, p.Join, users) }
	leave := func(users ...model.UserID) []model.UserID { return mustOp(t, p.Leave, users) }

	checkUsers(t, "join", join(1, 2), []model.UserID{1, 2})
	checkUsers(t, "join again (a heartbeat)", join(1, 2), nil)
	checkUsers(t, "join with none (a heartbeat)", join(), nil)
	checkOnline(t, p, map[model.UserID]bool{1: true, 2: true, 3: false})
	checkUsers(t, "leave", leave(1), []model.UserID{1})
	checkUsers(t, "leave again", leave(1, 3), nil)
	checkOnline(t, p, map[model.UserID]bool{1: false, 2: true})
	checkUsers(t, "join after leaving", join(1), []model.UserID{1})
	if got, err := p.Online(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("online of none: got %v, %v; want empty", got, err)
	}
	if gone, err := p.Reap(ctx); err != nil || len(gone) != 0 {
		t.Errorf("reap with no dead instance: got %v, %v; want none", gone, err)
	}
}

func mustOp(t *testing.T, op func(context.Context, []model.UserID) ([]model.UserID, error), users []model.UserID) []model.UserID {
	t.Helper()
	got, err := op(context.Background(), users)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func checkUsers(t *testing.T, what string, got, want []model.UserID) {
	t.Helper()
	slices.Sort(got)
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func checkOnline(t *testing.T, p Presence, want map[model.UserID]bool) {
	t.Helper()
	var users []model.UserID
	for u := range want {
		users = append(users, u)
	}
	got, err := p.Online(context.Background(), users)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("online (-want +got):\n%s", diff)
	}
}

func TestMemoryPresence(t *testing.T) {
	t.Parallel()
	testPresence(t, NewMemoryPresence())
}

func TestRedisPresence(t *testing.T) {
	t.Parallel()
	testPresence(t, NewRedisPresence(redistest.NewClient(t, redistest.URL(t)), redistest.Prefix(), "a", testLogger(t)))
}

// A user is online while connected to any instance, and goes offline when
// the last one's connection closes.
func TestRedisPresence_TwoInstances(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	a := NewRedisPresence(redistest.NewClient(t, url), prefix, "a", testLogger(t))
	b := NewRedisPresence(redistest.NewClient(t, url), prefix, "b", testLogger(t))
	checkUsers(t, "a joins 1", mustOp(t, a.Join, []model.UserID{1}), []model.UserID{1})
	checkUsers(t, "b joins 1, 2", mustOp(t, b.Join, []model.UserID{1, 2}), []model.UserID{2})
	checkOnline(t, a, map[model.UserID]bool{1: true, 2: true})
	checkUsers(t, "a leaves 1", mustOp(t, a.Leave, []model.UserID{1}), nil)
	checkOnline(t, b, map[model.UserID]bool{1: true})
	checkUsers(t, "b leaves 1, 2", mustOp(t, b.Leave, []model.UserID{1, 2}), []model.UserID{1, 2})
	checkOnline(t, a, map[model.UserID]bool{1: false, 2: false})
}

// The records of an instance that stops refreshing them stop counting
// after their TTL; the first live instance to reap them announces who went
// offline, once.
func TestRedisPresence_DeadInstance(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	dead := NewRedisPresence(redistest.NewClient(t, url), prefix, "dead", testLogger(t))
	dead.ttl = time.Second
	a := NewRedisPresence(redistest.NewClient(t, url), prefix, "a", testLogger(t))
	b := NewRedisPresence(redistest.NewClient(t, url), prefix, "b", testLogger(t))
	mustOp(t, dead.Join, []model.UserID{1, 2, 3})
	mustOp(t, a.Join, []model.UserID{3})
	checkOnline(t, a, map[model.UserID]bool{1: true, 2: true, 3: true})
	checkUsers(t, "reap before the TTL", mustOp(t, reapOp(a), nil), nil)

	waitFor(t, "the dead instance's records to expire", func() bool {
		online, err := a.Online(context.Background(), []model.UserID{1})
		return err == nil && !online[1]
	})
	checkOnline(t, a, map[model.UserID]bool{1: false, 2: false, 3: true})
	checkUsers(t, "first reap", mustOp(t, reapOp(a), nil), []model.UserID{1, 2})
	checkUsers(t, "second reap", mustOp(t, reapOp(b), nil), nil)

	// An instance that was only late comes back with its next heartbeat.
	checkUsers(t, "late heartbeat", mustOp(t, dead.Join, []model.UserID{1, 2, 3}), []model.UserID{1, 2})
}

func reapOp(p Presence) func(context.Context, []model.UserID) ([]model.UserID, error) {
	return func(ctx context.Context, _ []model.UserID) ([]model.UserID, error) { return p.Reap(ctx) }
}

// Join, Leave and reaping handle more users than one pipeline carries.
func TestRedisPresence_ManyUsers(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.URL(t), redistest.Prefix()
	a := NewRedisPresence(redistest.NewClient(t, url), prefix, "a", testLogger(t))
	a.ttl = 2 * time.Second // more than joining and checking take under -race on a busy machine
	b := NewRedisPresence(redistest.NewClient(t, url), prefix, "b", testLogger(t))
	users := make([]model.UserID, 3*presenceBatch/2)
	for i := range users {
		users[i] = model.UserID(i + 1)
	}
	checkUsers(t, "join", mustOp(t, a.Join, users), users)
	online, err := b.Online(context.Background(), users)
	if err != nil || len(online) != len(users) {
		t.Fatalf("online: got %d users, %v; want %d", len(online), err, len(users))
	}
	for u, on := range online {
		if !on {
			t.Fatalf("user %d offline, want online", u)
		}
	}
	checkUsers(t, "leave half", mustOp(t, a.Leave, users[:len(users)/2]), users[:len(users)/2])
	var gone []model.UserID
	waitFor(t, "a to be reaped", func() bool {
		gone = append(gone, mustOp(t, reapOp(b), nil)...)
		return len(gone) > 0
	})
	checkUsers(t, "reaped", gone, users[len(users)/2:])
}

// Redis forgetting everything (a restart without persistence) loses the
// records and the scripts: the next heartbeat restores both, and reports
// the users as having come online again.
func TestRedisPresence_RedisRestart(t *testing.T) {
	t.Parallel()
	srv := startRedisServer(t)
	p := NewRedisPresence(redistest.NewClient(t, srv.url()), redistest.Prefix(), "a", testLogger(t))
	mustOp(t, p.Join, []model.UserID{1, 2})
	srv.stop()
	srv.start()
	var came []model.UserID
	waitFor(t, "the heartbeat to succeed", func() bool { // the client redials
		var err error
		came, err = p.Join(context.Background(), []model.UserID{1, 2})
		return err == nil
	})
	checkUsers(t, "heartbeat after the restart", came, []model.UserID{1, 2})
	checkUsers(t, "leave", mustOp(t, p.Leave, []model.UserID{1}), []model.UserID{1})
}
