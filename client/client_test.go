package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/client"
	"parley/internal/testserver"
	"parley/model"
)

// exampleURL is the server the runnable examples talk to.
var exampleURL string

func TestMain(m *testing.M) {
	os.Exit(testserver.MainWithServer(m, &exampleURL))
}

var userSeq atomic.Int64

// newUser registers a fresh account on url and returns a client logged in
// as it.
func newUser(t *testing.T, url, name string, opts ...client.Options) *client.Client {
	t.Helper()
	var o client.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := client.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	name = fmt.Sprintf("%s%d_%d", name, userSeq.Add(1), time.Now().UnixNano()%1e6)
	if _, err := c.Register(ctx(t), client.RegisterRequest{Username: name, Password: "password-of-" + name}); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestClient_REST(t *testing.T) {
	srv := testserver.NewDeployment(t, false).Start(t)
	alice, bob := newUser(t, srv.URL, "alice"), newUser(t, srv.URL, "bob")
	c := ctx(t)

	me, err := alice.Me(c)
	if err != nil || me.ID != alice.Session().User.ID {
		t.Fatalf("Me: got %+v, %v; want the registered user %d", me, err, alice.Session().User.ID)
	}
	conv, err := alice.CreateChannel(c, client.ChannelRequest{Name: "general-" + fmt.Sprint(me.ID), Topic: "talk"})
	if err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	if _, err := alice.CreateChannel(c, client.ChannelRequest{Name: conv.Title()}); client.Code(err) != model.EConflict {
		t.Errorf("CreateChannel with a taken name: got %v, want code conflict", err)
	}
	page, err := bob.Channels(c, client.PageQuery{Q: conv.Title()})
	if err != nil || len(page.Items) != 1 || page.Items[0].IsMember {
		t.Fatalf("Channels: got %+v, %v; want the channel, not a member", page, err)
	}
	if _, err := bob.PostMessage(c, conv.ID, client.MessageRequest{Body: "before joining"}); client.Code(err) != model.ENotFound {
		t.Errorf("PostMessage by a non-member: got %v, want code not_found", err)
	}
	if _, err := bob.JoinChannel(c, conv.ID); err != nil {
		t.Fatalf("JoinChannel: %v", err)
	}

	var posted []client.Message
	for _, body := range []string{"one", "two", "three"} {
		m, err := alice.PostMessage(c, conv.ID, client.MessageRequest{Body: body})
		if err != nil {
			t.Fatalf("PostMessage: %v", err)
		}
		posted = append(posted, m)
	}
	// The same client_msg_id posts once.
	again, err := alice.PostMessage(c, conv.ID, client.MessageRequest{Body: "one", ClientMsgID: *posted[0].ClientMsgID})
	if err != nil || again.ID != posted[0].ID {
		t.Errorf("PostMessage again with the same client_msg_id: got %+v, %v; want message %d", again, err, posted[0].ID)
	}
	_, err = alice.PostMessage(c, conv.ID, client.MessageRequest{Body: "  "})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != model.EInvalid || apiErr.Fields["body"] == "" || apiErr.Status != 422 {
		t.Errorf("PostMessage with a blank body: got %#v, want a 422 invalid naming body", err)
	}

	hist, err := bob.History(c, conv.ID, client.HistoryQuery{Limit: 2})
	if err != nil || len(hist.Items) != 2 || hist.Items[1].Body != "three" || !hist.HasMore {
		t.Fatalf("History latest 2: got %+v, %v", hist, err)
	}
	older, err := bob.History(c, conv.ID, client.HistoryQuery{Before: hist.Items[0].Seq})
	if err != nil || len(older.Items) != 1 || older.Items[0].Body != "one" {
		t.Fatalf("History before %d: got %+v, %v", hist.Items[0].Seq, older, err)
	}
	if _, err := bob.EditMessage(c, posted[0].ID, "mine now"); client.Code(err) != model.EForbidden {
		t.Errorf("EditMessage of someone else's message: got %v, want forbidden", err)
	}
	edited, err := alice.EditMessage(c, posted[0].ID, "one, edited")
	if err != nil || edited.EditedAt == nil || edited.Body != "one, edited" {
		t.Errorf("EditMessage: got %+v, %v", edited, err)
	}
	deleted, err := alice.DeleteMessage(c, posted[1].ID)
	if err != nil || deleted.DeletedAt == nil || deleted.Body != "" {
		t.Errorf("DeleteMessage: got %+v, %v", deleted, err)
	}
	got, err := bob.Messages(c, []model.MessageID{posted[0].ID, posted[1].ID, posted[2].ID})
	if err != nil || len(got) != 3 || got[0].Body != "one, edited" || got[1].DeletedAt == nil {
		t.Errorf("Messages: got %+v, %v", got, err)
	}

	if err := bob.MarkRead(c, conv.ID, posted[2].Seq); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	bc, err := bob.Conversation(c, conv.ID)
	if err != nil || bc.UnreadCount != 0 || bc.ReadSeq != posted[2].Seq {
		t.Errorf("Conversation after MarkRead: got %+v, %v; want read_seq %d, nothing unread", bc, err, posted[2].Seq)
	}
	members, err := alice.Members(c, conv.ID)
	if err != nil || len(members) != 2 {
		t.Errorf("Members: got %+v, %v; want alice and bob", members, err)
	}
	users, err := alice.Users(c, client.PageQuery{Q: bob.Session().User.Username})
	if err != nil || len(users.Items) != 1 {
		t.Fatalf("Users: got %+v, %v", users, err)
	}
	dm, err := alice.OpenDirect(c, users.Items[0].ID)
	if err != nil || dm.Kind != model.KindDirect || dm.Name != nil {
		t.Fatalf("OpenDirect: got %+v, %v", dm, err)
	}
	all, err := bob.AllConversations(c)
	if err != nil || len(all) != 2 {
		t.Errorf("AllConversations: got %+v, %v; want the channel and the direct one", all, err)
	}
	changes, err := bob.Changes(c, conv.ID, 0, 0)
	if err != nil || len(changes.Items) != 3 {
		t.Errorf("Changes: got %+v, %v; want the latest change of each of 3 messages", changes, err)
	}
	if err := bob.LeaveChannel(c, conv.ID); err != nil {
		t.Fatalf("LeaveChannel: %v", err)
	}
	if _, err := bob.Conversation(c, conv.ID); client.Code(err) != model.ENotFound {
		t.Errorf("Conversation after leaving: got %v, want not_found", err)
	}
	if _, err := alice.WebSocketTicket(c); err != nil {
		t.Errorf("WebSocketTicket: %v", err)
	}
	if err := alice.Ready(c); err != nil {
		t.Errorf("Ready: %v", err)
	}

	if err := alice.Logout(c); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := alice.Me(c); !errors.Is(err, client.ErrLoggedOut) {
		t.Errorf("Me after Logout: got %v, want ErrLoggedOut", err)
	}
}

func TestClient_ServerDown(t *testing.T) {
	srv := testserver.NewDeployment(t, false).Start(t)
	alice := newUser(t, srv.URL, "alice")
	srv.Stop()
	_, err := alice.Me(ctx(t))
	var ne *client.NetError
	if !errors.As(err, &ne) {
		t.Fatalf("Me with the server down: got %v (%T), want a *NetError", err, err)
	}
	t.Logf("the error reads: %v", err)
}

// countingStore is a SessionStore in memory that counts the refreshes it
// sees.
type countingStore struct {
	mu      sync.Mutex
	s       client.Session
	updates int
}

func (st *countingStore) Update(fn func(client.Session) (client.Session, error)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	next, err := fn(st.s)
	if err != nil {
		return err
	}
	if next.RefreshToken != st.s.RefreshToken {
		st.updates++
	}
	st.s = next
	return nil
}

// TestClient_RenewOnce has many goroutines find the access token expired
// at the same moment: exactly one refresh must happen, since a refresh
// token used twice ends the login for all of them.
func TestClient_RenewOnce(t *testing.T) {
	// Without the server's grace for a refresh answer that was lost, any
	// second use of a refresh token ends the login, as the test wants.
	srv := testserver.NewDeployment(t, false).Start(t, "PARLEY_REFRESH_GRACE=0")
	first := newUser(t, srv.URL, "ada")
	s := first.Session()
	s.Expiry = time.Now().Add(-time.Minute) // as if it had expired
	store := &countingStore{s: s}
	c, err := client.New(srv.URL, client.Options{Session: s, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := c.Me(ctx(t)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Me: %v", err)
	}
	if store.updates != 1 {
		t.Errorf("refreshes: got %d, want 1", store.updates)
	}
	if c.Session().RefreshToken == s.RefreshToken {
		t.Error("the refresh token was not rotated")
	}

	// A second process sharing the store finds the session renewed there
	// and does not refresh again (which would end the login).
	other, err := client.New(srv.URL, client.Options{Session: s, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Me(ctx(t)); err != nil {
		t.Fatalf("Me from a second client on the same store: %v", err)
	}
	if store.updates != 1 {
		t.Errorf("refreshes after the second client: got %d, want still 1", store.updates)
	}
	if _, err := c.Me(ctx(t)); err != nil {
		t.Errorf("Me from the first client afterwards: %v", err)
	}

	// Using the old refresh token now is a reuse: the server ends the login.
	stale, err := client.New(srv.URL, client.Options{Session: s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Me(ctx(t)); !errors.Is(err, client.ErrLoggedOut) {
		t.Errorf("Me with a used refresh token: got %v, want ErrLoggedOut", err)
	}
	if err := c.Refresh(ctx(t)); !errors.Is(err, client.ErrLoggedOut) {
		t.Errorf("Refresh after the login was revoked: got %v, want ErrLoggedOut", err)
	}
}
