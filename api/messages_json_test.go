package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"parley/model"
)

// FuzzEncodeMessages checks that encodeMessages writes exactly what encode
// writes for the same page, list or message.
func FuzzEncodeMessages(f *testing.F) {
	var all strings.Builder
	for c := range 128 {
		all.WriteByte(byte(c))
	}
	for _, seed := range []string{"", "hello", all.String(), "<a href=\"x\">&amp;</a>", "\u2028\u2029", "\xff\xfe ok \xc3",
		"é ü 漢字 🎉", "tab\there\nnew\\line\r\b\f", "\x00\x1f\x7f"} {
		f.Add(seed, "c-1", int64(1_700_000_000_123_456_789), true)
	}
	f.Add("body", "", int64(0), false)
	f.Fuzz(func(t *testing.T, body, clientMsgID string, nanos int64, edited bool) {
		at := time.Unix(0, nanos).UTC()
		m := model.Message{ID: 12, ConversationID: 3, Seq: 45, SenderID: 6, Body: body, ClientMsgID: clientMsgID,
			CreatedAt: at}
		if edited {
			later := at.Add(1500 * time.Millisecond).In(time.FixedZone("X", 3600))
			m.EditedAt, m.DeletedAt = &later, &later
		}
		msgs := []model.Message{m, {ID: 13, ConversationID: 3, Seq: 46, SenderID: 7, Body: body, CreatedAt: at.Add(time.Second)}}
		for _, more := range []bool{false, true} {
			want := httptest.NewRecorder()
			if err := encode(want, 200, page[messageResponse]{Items: toResponses(msgs, toMessageResponse), HasMore: more}); err != nil {
				t.Fatal(err)
			}
			got := httptest.NewRecorder()
			end := `],"has_more":false}`
			if more {
				end = `],"has_more":true}`
			}
			if err := encodeMessages(got, 200, `{"items":[`, msgs, end); err != nil {
				t.Fatal(err)
			}
			compare(t, got, want)
		}
		want := httptest.NewRecorder()
		if err := encode(want, 201, toMessageResponse(m)); err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := encodeMessage(got, 201, m); err != nil {
			t.Fatal(err)
		}
		compare(t, got, want)
		want = httptest.NewRecorder()
		if err := encode(want, 200, list[messageResponse]{Items: toResponses(msgs[:0], toMessageResponse)}); err != nil {
			t.Fatal(err)
		}
		got = httptest.NewRecorder()
		if err := encodeMessages(got, 200, `{"items":[`, nil, `]}`); err != nil {
			t.Fatal(err)
		}
		compare(t, got, want)
	})
}

func compare(t *testing.T, got, want *httptest.ResponseRecorder) {
	t.Helper()
	if got.Code != want.Code {
		t.Errorf("got status %d, want %d", got.Code, want.Code)
	}
	if diff := cmp.Diff(want.Header(), got.Header()); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Body.String(), got.Body.String()); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestEncodeMessages_Year10000 checks that a time encoding/json refuses is
// an error, as it is for encode.
func TestEncodeMessages_Year10000(t *testing.T) {
	m := model.Message{ID: 1, CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := encode(httptest.NewRecorder(), 200, toMessageResponse(m)); err == nil {
		t.Fatal("encode: got no error, want one")
	}
	if err := encodeMessage(httptest.NewRecorder(), 200, m); err == nil {
		t.Error("encodeMessage: got no error, want one")
	}
}

// BenchmarkEncodeMessages writes a default history page (model.DefaultPageLimit
// messages) by hand and through encode, the encoding/json path every other
// response takes: the hand-built path is kept only while it is clearly the
// cheaper one.
func BenchmarkEncodeMessages(b *testing.B) {
	at := time.Date(2026, 12, 6, 5, 0, 0, 123456789, time.UTC)
	msgs := make([]model.Message, model.DefaultPageLimit)
	for i := range msgs {
		msgs[i] = model.Message{ID: model.MessageID(1000 + i), ConversationID: 3, Seq: int64(500 + i), SenderID: 6,
			Body: "The quick brown fox jumps over the lazy dog while the bench runs.", ClientMsgID: "c-1", CreatedAt: at}
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := discardWriter{}
			if err := encodeMessages(w, 200, `{"items":[`, msgs, `],"has_more":true}`); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := discardWriter{}
			if err := encode(w, 200, page[messageResponse]{Items: toResponses(msgs, toMessageResponse), HasMore: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so that a benchmark
// measures the encoding alone.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
