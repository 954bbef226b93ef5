package jobs_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"parley/db"
	"parley/internal/dbtest"
	"parley/jobs"
	"parley/model"
	"parley/push"
)

// BenchmarkPushWorker measures push tasks per second through one worker
// running 10 at a time: a message to a channel of b.N offline members with
// a device each, posted the way serve posts (its message_created task in
// the message's transaction), fans out into b.N push tasks, each of which
// reads its device and the message to announce and POSTs to a UnifiedPush
// receiver on loopback that answers at once. River fetches, runs and
// completes every task in PostgreSQL. The time runs from the post to the
// last push received.
//
//	scripts/with-test-services.sh go test -run '^$' -bench PushWorker -benchtime 2000x ./jobs/
func BenchmarkPushWorker(b *testing.B) {
	ctx := context.Background()
	dsn := dbtest.DSN(b)
	store, err := db.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(14)
	if err := jobs.Migrate(ctx, conn); err != nil {
		b.Fatal(err)
	}

	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == n {
			close(done)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer rcv.Close()

	// A channel of b.N members with a device each, and a message from its
	// creator that none has read.
	alice, err := store.CreateUser(ctx, model.NewUser{Username: "alice", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	conv, err := store.CreateChannel(ctx, alice.ID, model.NewChannel{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		u, err := store.CreateUser(ctx, model.NewUser{Username: fmt.Sprintf("user%d", i), PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.JoinChannel(ctx, u.ID, conv.ID); err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.CreateDevice(ctx, model.Device{UserID: u.ID, Kind: model.DeviceUnifiedPush,
			Endpoint: fmt.Sprintf("%s/up/%d", rcv.URL, i)}); err != nil {
			b.Fatal(err)
		}
	}

	logger := slog.New(slog.DiscardHandler)
	sender, err := push.New(push.Config{AllowLoopbackHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	q, err := jobs.Open(conn, jobs.Config{Concurrency: 10, CollapseWindow: time.Millisecond}, logger,
		&jobs.Handlers{Store: store, Sender: sender})
	if err != nil {
		b.Fatal(err)
	}
	store.OnMessageCreated = q.EnqueueMessages
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	msg := model.Message{ConversationID: conv.ID, SenderID: alice.ID, Body: "hello"}
	if _, err := store.CreateMessage(ctx, &msg); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d pushes arrived", got.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = q.Stop(stopCtx)
}
