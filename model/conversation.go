package model

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ConversationID identifies a conversation: a channel or a direct one.
type ConversationID int64

// Kind says what sort of conversation it is.
type Kind string

// The kinds of conversation.
const (
	KindDirect  Kind = "direct"
	KindChannel Kind = "channel"
)

// Limits on channels.
const (
	MaxChannelNameLen = 64  // characters
	MaxTopicLen       = 250 // characters
)

var channelNamePattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}_-]*$`)

// Conversation is a channel or a direct conversation, as one member sees it.
type Conversation struct {
	ID            ConversationID
	Kind          Kind
	Name          string // channels only
	Topic         string // channels only
	CreatedAt     time.Time
	LastSeq       int64      // seq of the newest message; 0 when there is none
	LastEventSeq  int64      // number of the latest change to its messages; 0 when there is none
	LastMessageAt *time.Time // when the newest message was posted; nil when there is none
	ReadSeq       int64      // the member's read marker: the newest seq they have read
	UnreadCount   int64      // messages after the member's read marker, not counting their own or deleted ones
	// RetentionDays: messages older than this many days are deleted; nil
	// keeps them forever. Channels only.
	RetentionDays *int
	// ExpiredSeq: retention deleted every message up to this seq, so
	// history starts after it. 0 until retention deletes anything.
	ExpiredSeq int64
}

// MaxRetentionDays is the longest retention a channel may set.
const MaxRetentionDays = 36500

// ChannelRetention is a channel whose messages expire after Days days.
type ChannelRetention struct {
	ID   ConversationID
	Days int
}

// Channel is a channel as anyone browsing sees it.
type Channel struct {
	ID          ConversationID
	Name        string
	Topic       string
	CreatedAt   time.Time
	MemberCount int64
	IsMember    bool // whether the user who listed it is a member
}

// NewChannel is what it takes to create a channel.
type NewChannel struct {
	Name  string
	Topic string
}

// Normalize trims the fields and validates them. Returns EInvalid naming
// "name" or "topic".
func (c *NewChannel) Normalize() error {
	c.Name = strings.TrimSpace(c.Name)
	c.Topic = strings.TrimSpace(c.Topic)
	if n := utf8.RuneCountInString(c.Name); n == 0 || n > MaxChannelNameLen || !channelNamePattern.MatchString(c.Name) {
		return FieldError("name", "must be 1–64 letters, digits, '_' or '-', starting with a letter or digit")
	}
	if !singleScript(c.Name) {
		return FieldError("name", "must not mix letters of different scripts")
	}
	if utf8.RuneCountInString(c.Topic) > MaxTopicLen || !printable(c.Topic, false) || hasBidiOverride(c.Topic) {
		return FieldError("topic", "must be at most 250 printable characters")
	}
	return nil
}

// ChannelFilter selects channels to browse.
type ChannelFilter struct {
	Query string // case-insensitive substring of the name; empty matches all
	After string // exclusive: lowercased name of the last channel on the previous page
	Limit int
}

// MemberFilter pages a conversation's members.
type MemberFilter struct {
	After string // exclusive: lowercased username of the last member on the previous page
	Limit int
}

// Limits on the conversation list.
const (
	DefaultConversationLimit = 100 // conversations in a page when no limit is given
	MaxConversationLimit     = 500 // conversations in one page
)

// ConversationFilter selects a page of a user's conversations, by id.
type ConversationFilter struct {
	After ConversationID // only conversations with a greater id
	Limit int            // DefaultConversationLimit when zero, at most MaxConversationLimit
}

// Member is a user's membership in a conversation.
type Member struct {
	User     User
	JoinedAt time.Time
}
