package model

import (
	"encoding/json"
	"fmt"
)

// EventType names a real-time event. Each type's frame is described in
// asyncapi.yaml.
type EventType string

// The event types. Server → client unless noted.
const (
	EventMessageCreated     EventType = "message.created"     // conversation_id, message_id, seq, event_seq
	EventMessageUpdated     EventType = "message.updated"     // conversation_id, message_id, seq, event_seq
	EventMessageDeleted     EventType = "message.deleted"     // conversation_id, message_id, seq, event_seq
	EventConversationJoined EventType = "conversation.joined" // conversation_id: you were added
	EventConversationLeft   EventType = "conversation.left"   // conversation_id: you are no longer a member
	EventMemberJoined       EventType = "member.joined"       // conversation_id, user_id: someone else joined
	EventMemberLeft         EventType = "member.left"         // conversation_id, user_id: someone else left
	EventReadUpdated        EventType = "read.updated"        // conversation_id, seq: your read marker moved
	EventTyping             EventType = "typing"              // conversation_id, user_id; client → server without user_id
	EventPresence           EventType = "presence"            // user_id, online
	EventHello              EventType = "hello"               // user_id: the first frame on every connection
	EventResync             EventType = "resync"              // events may have been lost: refetch
)

// MaxClientFrameBytes is the largest frame a client may send over the event
// channel; larger ones close the connection.
const MaxClientFrameBytes = 512

// Event is one real-time notification. The exported fields with json tags are
// exactly the frame clients receive; fields a type does not use are zero and
// left out. Events carry ids only: clients fetch content over REST.
type Event struct {
	Type           EventType      `json:"type"`
	ConversationID ConversationID `json:"conversation_id,omitempty"`
	MessageID      MessageID      `json:"message_id,omitempty"`
	Seq            int64          `json:"seq,omitempty"`
	EventSeq       int64          `json:"event_seq,omitempty"` // message.* only: the change's number in its conversation
	UserID         UserID         `json:"user_id,omitempty"`
	Online         *bool          `json:"online,omitempty"` // presence only

	// To says who receives the event. It is never sent to clients.
	To Audience `json:"-"`
}

// Frame returns e as the event channel sends it: its JSON text. An Event
// always marshals, so a failure is a bug and panics.
func (e Event) Frame() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("marshal %s event: %v", e.Type, err))
	}
	return b
}

// Audience selects the connections that receive an event. Exactly one of
// User and Conversations is set; a connection receives an event at most once.
type Audience struct {
	User          UserID           // only this user's connections
	Conversations []ConversationID // the members of any of these conversations
	Except        UserID           // never this user's connections, even if selected
}

// IsZero reports whether a selects no one.
func (a Audience) IsZero() bool {
	return a.User == 0 && len(a.Conversations) == 0
}

func toConversation(id ConversationID) Audience {
	return Audience{Conversations: []ConversationID{id}}
}

// MessageCreated tells the members of conv that message id was posted with
// seq, as the conversation's change eventSeq.
func MessageCreated(conv ConversationID, id MessageID, seq, eventSeq int64) Event {
	return messageEvent(EventMessageCreated, conv, id, seq, eventSeq)
}

// MessageUpdated tells the members of conv that message id (with seq) was
// edited, as the conversation's change eventSeq.
func MessageUpdated(conv ConversationID, id MessageID, seq, eventSeq int64) Event {
	return messageEvent(EventMessageUpdated, conv, id, seq, eventSeq)
}

// MessageDeleted tells the members of conv that message id (with seq) was
// deleted, as the conversation's change eventSeq.
func MessageDeleted(conv ConversationID, id MessageID, seq, eventSeq int64) Event {
	return messageEvent(EventMessageDeleted, conv, id, seq, eventSeq)
}

// MessageChanged announces m's latest change: created, updated or deleted,
// as m's state says.
func MessageChanged(m Message) Event {
	return messageEvent(m.ChangeType(), m.ConversationID, m.ID, m.Seq, m.EventSeq)
}

func messageEvent(t EventType, conv ConversationID, id MessageID, seq, eventSeq int64) Event {
	return Event{Type: t, ConversationID: conv, MessageID: id, Seq: seq, EventSeq: eventSeq, To: toConversation(conv)}
}

// ConversationJoined tells user that they are now a member of conv. Live
// connections of user start receiving conv's events with this one.
func ConversationJoined(user UserID, conv ConversationID) Event {
	return Event{Type: EventConversationJoined, ConversationID: conv, To: Audience{User: user}}
}

// ConversationLeft tells user that they are no longer a member of conv. Live
// connections of user receive nothing more about conv after this one.
func ConversationLeft(user UserID, conv ConversationID) Event {
	return Event{Type: EventConversationLeft, ConversationID: conv, To: Audience{User: user}}
}

// MemberJoined tells the members of conv that user joined it. The joiner,
// already told by ConversationJoined, does not receive it.
func MemberJoined(conv ConversationID, user UserID) Event {
	return Event{Type: EventMemberJoined, ConversationID: conv, UserID: user,
		To: Audience{Conversations: []ConversationID{conv}, Except: user}}
}

// MemberLeft tells the remaining members of conv that user left it.
func MemberLeft(conv ConversationID, user UserID) Event {
	return Event{Type: EventMemberLeft, ConversationID: conv, UserID: user,
		To: Audience{Conversations: []ConversationID{conv}, Except: user}}
}

// ReadUpdated tells user's connections that their read marker in conv moved
// to seq, so other devices can update unread counts.
func ReadUpdated(user UserID, conv ConversationID, seq int64) Event {
	return Event{Type: EventReadUpdated, ConversationID: conv, Seq: seq, To: Audience{User: user}}
}

// Typing tells the other members of conv that user is typing there.
func Typing(conv ConversationID, user UserID) Event {
	return Event{Type: EventTyping, ConversationID: conv, UserID: user,
		To: Audience{Conversations: []ConversationID{conv}, Except: user}}
}

// Presence tells the members of convs (the conversations user belongs to)
// that user came online or went offline.
func Presence(user UserID, online bool, convs []ConversationID) Event {
	return Event{Type: EventPresence, UserID: user, Online: &online,
		To: Audience{Conversations: convs, Except: user}}
}

// Hello is the first frame of every connection; user is who it belongs to.
// It is sent directly, never published.
func Hello(user UserID) Event {
	return Event{Type: EventHello, UserID: user, To: Audience{User: user}}
}

// Resync tells a connection that events may have been lost (the server's
// link to the other instances was interrupted): the client pages its
// conversations and the changes after the event_seq it holds in each. It is
// sent directly, never published.
func Resync() Event {
	return Event{Type: EventResync}
}
