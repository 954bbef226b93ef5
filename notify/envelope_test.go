package notify

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"parley/model"
)

// TestEventEnvelope checks that the appended envelope is byte for byte what
// encoding/json gives, for every event a handler or the Hub publishes, and
// that it decodes back to the same routing. UnplainType takes the
// encoding/json fallback, so for it only the decoding is a check.
func TestEventEnvelope(t *testing.T) {
	t.Parallel()
	withExcept := model.Typing(7, 3)
	withExcept.To.Except = 3
	odd := model.MessageCreated(7, 123, 42, 42)
	odd.Type = `odd "type" <&>`
	tests := []struct {
		name string
		ev   model.Event
	}{
		{"MessageCreated", model.MessageCreated(7, 123, 42, 42)},
		{"MessageUpdated", model.MessageUpdated(7, 123, 42, 42)},
		{"MessageDeleted", model.MessageDeleted(7, 123, 42, 42)},
		{"ConversationJoined", model.ConversationJoined(3, 7)},
		{"ConversationLeft", model.ConversationLeft(3, 7)},
		{"MemberJoined", model.MemberJoined(7, 3)},
		{"MemberLeft", model.MemberLeft(7, 3)},
		{"ReadUpdated", model.ReadUpdated(3, 7, 42)},
		{"Typing", withExcept},
		{"PresenceOnline", model.Presence(3, true, []model.ConversationID{7, 8, 9})},
		{"PresenceOffline", model.Presence(3, false, []model.ConversationID{7})},
		{"LargeIDs", model.MessageCreated(1<<62, 1<<62+1, 1<<62+2, 1<<62+2)},
		{"UnplainType", odd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := eventEnvelope(tt.ev)
			if err != nil {
				t.Fatalf("eventEnvelope: %v", err)
			}
			want, err := marshalEnvelope(tt.ev)
			if err != nil {
				t.Fatalf("marshalEnvelope: %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			env, err := decodeEnvelope(got)
			if err != nil {
				t.Fatalf("decodeEnvelope: %v", err)
			}
			wantConvs := tt.ev.To.Conversations
			if tt.ev.To.User != 0 {
				wantConvs = nil
			}
			if env.Type != tt.ev.Type || env.Conv != tt.ev.ConversationID || env.User != tt.ev.To.User ||
				env.Except != tt.ev.To.Except || !cmp.Equal(env.Convs, wantConvs) {
				t.Errorf("decoded routing %+v, want that of %+v", env, tt.ev)
			}
		})
	}
}

// FuzzEventEnvelope compares the appended envelope with encoding/json's
// over any ids, type and audience.
func FuzzEventEnvelope(f *testing.F) {
	f.Add("message.created", int64(7), int64(123), int64(42), int64(0), int64(0), int64(7), uint8(0))
	f.Add("presence", int64(0), int64(0), int64(0), int64(3), int64(0), int64(9), uint8(2))
	f.Add("typing", int64(7), int64(0), int64(0), int64(3), int64(3), int64(0), uint8(1))
	f.Fuzz(func(t *testing.T, typ string, conv, msg, seq, user, except, audience int64, online uint8) {
		ev := model.Event{Type: model.EventType(typ), ConversationID: model.ConversationID(conv),
			MessageID: model.MessageID(msg), Seq: seq, UserID: model.UserID(user)}
		if online > 0 {
			on := online > 1
			ev.Online = &on
		}
		ev.To.Except = model.UserID(except)
		if audience < 0 {
			ev.To.User = model.UserID(-audience)
		} else if audience > 0 {
			ev.To.Conversations = []model.ConversationID{model.ConversationID(audience), model.ConversationID(conv)}
		}
		got, gotErr := eventEnvelope(ev)
		if gotErr != nil {
			return // hello, resync or no audience: refused before encoding
		}
		want, err := marshalEnvelope(ev)
		if err != nil {
			t.Fatalf("marshalEnvelope: %v", err)
		}
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}
