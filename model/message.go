package model

import (
	"strings"
	"time"
	"unicode/utf8"
)

// MessageID identifies a message across all conversations.
type MessageID int64

// Limits on messages and requests.
const (
	MaxMessageLen     = 4000     // characters
	MaxClientMsgIDLen = 64       // bytes
	MaxRequestBytes   = 64 << 10 // any JSON request body
	MaxPageLimit      = 100      // items in one page, messages included
	DefaultPageLimit  = 15       // items in a page when neither the request nor a setting says: history's default
	MaxBatchIDs       = 100      // ids in GET /messages?ids=
	AccessTokenTTL    = 15 * time.Minute
	RefreshTokenTTL   = 30 * 24 * time.Hour
)

// Limits on the changes feed.
const (
	DefaultChangesLimit = 100  // changes in a page when no limit is given
	MaxChangesLimit     = 1000 // changes in one page
)

// Message is one message in a conversation. Seq numbers a conversation's
// messages 1, 2, 3, … in commit order with no holes; EventSeq numbers the
// conversation's changes (posts, edits, deletes) the same way, and a message
// carries the number of its latest change.
type Message struct {
	ID             MessageID
	ConversationID ConversationID
	Seq            int64
	EventSeq       int64
	SenderID       UserID
	Body           string // empty once deleted
	ClientMsgID    string // the sender's idempotency key; may be empty
	CreatedAt      time.Time
	EditedAt       *time.Time
	DeletedAt      *time.Time
}

// ChangeType names m's latest change: EventMessageDeleted once deleted,
// else EventMessageUpdated once edited, else EventMessageCreated.
func (m Message) ChangeType() EventType {
	switch {
	case m.DeletedAt != nil:
		return EventMessageDeleted
	case m.EditedAt != nil:
		return EventMessageUpdated
	}
	return EventMessageCreated
}

// Change is one entry of a conversation's changes feed: message MessageID
// (with Seq) changed as Type, and EventSeq is the number of that change,
// the message's latest.
type Change struct {
	EventSeq  int64
	Type      EventType
	MessageID MessageID
	Seq       int64
}

// ChangeFilter selects a page of a conversation's changes feed.
type ChangeFilter struct {
	ConversationID ConversationID
	After          int64 // only changes numbered above this
	Limit          int   // DefaultChangesLimit when zero, at most MaxChangesLimit
}

// ValidateBody returns EInvalid naming field "body" unless body is 1–4000
// characters of valid UTF-8 that are not all white space and contain no
// control characters other than tab and newlines, nor the bidirectional
// embeddings and overrides that reorder the text after them.
func ValidateBody(body string) error {
	if !utf8.ValidString(body) {
		return FieldError("body", "must be valid UTF-8")
	}
	if strings.TrimSpace(body) == "" {
		return FieldError("body", "must not be empty")
	}
	if utf8.RuneCountInString(body) > MaxMessageLen {
		return FieldError("body", "must be at most 4000 characters")
	}
	if !printable(body, true) {
		return FieldError("body", "must not contain control characters")
	}
	if hasBidiOverride(body) {
		return FieldError("body", "must not contain bidirectional embeddings or overrides (U+202A–U+202E); use isolates (U+2066–U+2069)")
	}
	return nil
}

// ValidateClientMsgID returns EInvalid naming field "client_msg_id" unless id
// is at most 64 bytes of printable ASCII.
func ValidateClientMsgID(id string) error {
	if len(id) > MaxClientMsgIDLen {
		return FieldError("client_msg_id", "must be at most 64 characters")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return FieldError("client_msg_id", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// HistoryFilter selects a page of one conversation's messages, always
// returned oldest first. At most one of Before and After is set; with neither,
// the page is the latest Limit messages.
type HistoryFilter struct {
	ConversationID ConversationID
	Before         *int64 // only messages with a smaller seq, the newest of them
	After          *int64 // only messages with a greater seq, the oldest of them
	Limit          int
}

// printable reports whether s has no control characters; newlines and tabs
// are allowed when multiline is set.
func printable(s string, multiline bool) bool {
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\r' {
			if multiline {
				continue
			}
			return false
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
