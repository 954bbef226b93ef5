package push_test

import (
	"strings"
	"testing"

	"parley/model"
	"parley/notify/notifytest"
	"parley/push"
)

// TestBody: a push names the message by ids, as asyncapi.yaml's
// PushMessage says, and carries the sender's name only when asked.
func TestBody(t *testing.T) {
	t.Parallel()
	pm := model.PushMessage{ConversationID: 7, MessageID: 123, Seq: 42, SenderName: `Ali "the" ce`}
	for _, tt := range []struct {
		include bool
		want    string
	}{
		{false, `{"type":"message.created","conversation_id":7,"message_id":123,"seq":42}`},
		{true, `{"type":"message.created","conversation_id":7,"message_id":123,"seq":42,"sender_name":"Ali \"the\" ce"}`},
	} {
		got := push.Body(pm, tt.include)
		if string(got) != tt.want {
			t.Errorf("Body(include %v): got %s, want %s", tt.include, got, tt.want)
		}
		if err := notifytest.CheckPush(got); err != nil {
			t.Error(err)
		}
	}
}

// TestVAPIDKey: a generated key's public half is the 65-byte uncompressed
// point browsers take; anything else is refused.
func TestVAPIDKey(t *testing.T) {
	t.Parallel()
	private, err := push.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	public, err := push.VAPIDPublicKey(private)
	if err != nil || len(public) != 87 || !strings.HasPrefix(public, "B") {
		t.Fatalf("public key %q (%v): want 87 base64url characters of an uncompressed point", public, err)
	}
	for _, bad := range []string{"", "not base64!", "AAAA"} {
		if _, err := push.VAPIDPublicKey(bad); err == nil {
			t.Errorf("VAPIDPublicKey(%q): got no error", bad)
		}
	}
}
