package api

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"parley/model"
)

// Messages are written as JSON by hand, by appending: history pages are the
// busiest responses, and encoding/json's reflection was the larger part of
// writing them. BenchmarkEncodeMessages (messages_json_test.go) measures
// the gain against encode; FuzzEncodeMessages checks that the bytes are
// exactly encode's. Everything else goes through encode.

// appendMessageJSON appends m as encoding/json would marshal it, or reports
// false if it cannot be (a time outside the years 0-9999). History pages are
// the busiest responses, and encoding/json's reflection was the larger part
// of writing them.
func appendMessageJSON(b []byte, m messageResponse) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(m.ID), 10)
	b = append(b, `,"conversation_id":`...)
	b = strconv.AppendInt(b, int64(m.ConversationID), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"sender_id":`...)
	b = strconv.AppendInt(b, int64(m.SenderID), 10)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, m.Body)
	b = append(b, `,"client_msg_id":`...)
	if m.ClientMsgID == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *m.ClientMsgID)
	}
	b = append(b, `,"created_at":`...)
	b, ok := appendJSONTime(b, m.CreatedAt)
	for _, f := range [...]struct {
		name string
		t    *time.Time
	}{{`,"edited_at":`, m.EditedAt}, {`,"deleted_at":`, m.DeletedAt}} {
		b = append(b, f.name...)
		if f.t == nil {
			b = append(b, "null"...)
			continue
		}
		var fine bool
		b, fine = appendJSONTime(b, *f.t)
		ok = ok && fine
	}
	return append(b, '}'), ok
}

// encodeMessages writes msgs as JSON objects separated by commas, between
// open and end, and a newline: the same bytes as encode gives for a message,
// a list or a page of them.
func encodeMessages(w http.ResponseWriter, status int, open string, msgs []model.Message, end string) error {
	bp := messageBuffers.Get().(*[]byte)
	b := append((*bp)[:0], open...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendMessageJSON(b, toMessageResponse(m)); !ok {
			return errors.New("encode response: a time outside the years 0-9999")
		}
	}
	b = append(b, end...)
	b = append(b, '\n')
	writeJSON(w, status, b)
	if cap(b) <= maxPooledBuffer {
		*bp = b
		messageBuffers.Put(bp)
	}
	return nil
}

var messageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// encodeMessage writes m as encode would.
func encodeMessage(w http.ResponseWriter, status int, m model.Message) error {
	return encodeMessages(w, status, "", []model.Message{m}, "")
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it by default: HTML-safe (<, > and & escaped), with U+2028 and
// U+2029 escaped, and each byte of invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as encoding/json writes a time.Time (RFC 3339
// with nanoseconds), or reports false for a year that it refuses to write.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}
