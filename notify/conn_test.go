package notify

import (
	"testing"
)

// FuzzParseClientFrame checks that no client frame crashes the parser and
// that whatever it accepts is a typing frame as asyncapi.yaml describes.
func FuzzParseClientFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"typing","conversation_id":7}`,
		`{"type":"typing","conversation_id":7,"x":1}`,
		`{"type":"typing","conversation_id":1e2}`,
		`{"type":"typing","conversation_id":9223372036854775808}`,
		`{"type":"typing","type":"hello","conversation_id":7}`,
		`{"conversation_id":7,"type":"typing"} `,
		`{"type":"typing","conversation_id":null}`,
		`null`,
		`"typing"`,
		"{\"type\":\"typing\\u0000\",\"conversation_id\":7}",
	} {
		f.Add([]byte(seed))
	}
	fs := loadSchemas(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		conv, err := parseClientFrame(data)
		if err != nil {
			return
		}
		if conv <= 0 {
			t.Fatalf("accepted conversation_id %d", conv)
		}
		if err := fs.Validate(data, false); err != nil {
			t.Fatalf("accepted %q, which asyncapi.yaml rejects: %v", data, err)
		}
	})
}

func TestTruncateReason(t *testing.T) {
	t.Parallel()
	long := ""
	for range 70 {
		long += "é" // 2 bytes each
	}
	got := truncateReason(long + "x")
	if len(got) > maxCloseReason || len(got) != 122 {
		t.Errorf("got %d bytes, want 122 (whole runes, at most %d)", len(got), maxCloseReason)
	}
	if got := truncateReason("short"); got != "short" {
		t.Errorf("got %q, want short", got)
	}
}
