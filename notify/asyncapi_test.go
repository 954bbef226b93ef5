package notify

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"parley/model"
	"parley/notify/notifytest"
)

// loadSchemas returns asyncapi.yaml's message schemas.
func loadSchemas(tb testing.TB) *notifytest.Schemas {
	tb.Helper()
	s, err := notifytest.Load()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// checkFrame fails tb unless data is a frame that asyncapi.yaml describes,
// sent by the server (fromServer) or by a client.
func checkFrame(tb testing.TB, data []byte, fromServer bool) {
	tb.Helper()
	if err := notifytest.CheckFrame(data, fromServer); err != nil {
		tb.Error(err)
	}
}

// TestAsyncAPI_Messages checks that asyncapi.yaml names every event type,
// that its examples match its schemas, and that every event the model can
// build marshals to a frame it describes.
func TestAsyncAPI_Messages(t *testing.T) {
	t.Parallel()
	fs := loadSchemas(t)

	var server []string
	for name := range fs.Server {
		server = append(server, name)
	}
	sort.Strings(server)
	want := []string{"conversation.joined", "conversation.left", "hello", "member.joined", "member.left",
		"message.created", "message.deleted", "message.updated", "presence", "read.updated", "resync", "typing"}
	if diff := cmp.Diff(want, server); diff != "" {
		t.Errorf("server messages (-want +got):\n%s", diff)
	}
	if _, ok := fs.Client["typing"]; !ok || len(fs.Client) != 1 {
		t.Errorf("client messages: got %d, want typing only", len(fs.Client))
	}

	for _, ex := range fs.Examples {
		data, err := json.Marshal(ex.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.Validate(data, ex.Server); err != nil {
			t.Errorf("example of %s: %v", ex.Name, err)
		}
	}

	events := []model.Event{
		model.MessageCreated(7, 123, 42, 42), model.MessageUpdated(7, 123, 42, 42), model.MessageDeleted(7, 123, 42, 42),
		model.ConversationJoined(3, 7), model.ConversationLeft(3, 7), model.MemberJoined(7, 5), model.MemberLeft(7, 5),
		model.ReadUpdated(3, 7, 42), model.Typing(7, 5), model.Presence(5, true, []model.ConversationID{7}),
		model.Presence(5, false, []model.ConversationID{7}), model.Hello(3), model.Resync(),
	}
	seen := map[string]bool{}
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		seen[string(ev.Type)] = true
		if err := fs.Validate(data, true); err != nil {
			t.Errorf("%s: %v", data, err)
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no constructor checked for %s", name)
		}
	}

	bad := []string{
		`{"type":"message.created","conversation_id":7,"message_id":123}`,
		`{"type":"message.created","conversation_id":7,"message_id":123,"seq":42,"body":"hi"}`,
		`{"type":"hello","user_id":0}`,
		`{"type":"presence","user_id":5}`,
		`{"type":"presence","user_id":5,"online":true,"conversation_id":7}`, // would tell who is where
		`{"type":"unknown"}`,
	}
	for _, b := range bad {
		if fs.Validate([]byte(b), true) == nil {
			t.Errorf("%s: valid, want invalid", b)
		}
	}
}

// TestAsyncAPI_ClientFrames checks that the frames the server accepts from
// clients are the ones asyncapi.yaml describes.
func TestAsyncAPI_ClientFrames(t *testing.T) {
	t.Parallel()
	fs := loadSchemas(t)
	tests := []string{
		`{"type":"typing","conversation_id":7}`,
		` {"conversation_id":7,"type":"typing"} `,
		`{"type":"typing"}`,
		`{"type":"typing","conversation_id":0}`,
		`{"type":"typing","conversation_id":-1}`,
		`{"type":"typing","conversation_id":7.5}`,
		`{"type":"typing","conversation_id":"7"}`,
		`{"type":"typing","conversation_id":7,"user_id":3}`,
		`{"TYPE":"typing","conversation_id":7}`,
		`{"type":"message.created","conversation_id":7}`,
		`{"type":"typing","conversation_id":7}{}`,
		`[]`,
		`null`,
	}
	for _, tc := range tests {
		_, err := parseClientFrame([]byte(tc))
		verr := fs.Validate([]byte(tc), false)
		if (err == nil) != (verr == nil) {
			t.Errorf("%s: parse error %v, schema error %v; want both nil or both set", tc, err, verr)
		}
	}
}
