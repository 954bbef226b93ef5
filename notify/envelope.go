package notify

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coder/websocket"

	"parley/model"
)

// topicEvents is the one broker topic every Hub publishes to and reads. One
// topic for everything keeps a single order across instances (a member
// leaving is seen before the events that follow) and costs one PUBLISH per
// event; each instance skips what none of its users should see.
const topicEvents = "events"

// The kinds of envelope.
const (
	kindEvent = "event" // deliver Frame to the audience
	kindClose = "close" // close the connections of User opened with Session
)

// envelope is what travels through the Broker: routing for the Hubs, and
// the frame that clients receive byte for byte, marshaled once by the
// publisher.
type envelope struct {
	Kind    string                 `json:"k"`
	Type    model.EventType        `json:"t,omitempty"`
	Conv    model.ConversationID   `json:"cv,omitempty"` // the event's conversation
	User    model.UserID           `json:"u,omitempty"`  // the one user addressed
	Session model.SessionID        `json:"s,omitempty"`  // with kindClose: the login whose connections close
	Convs   []model.ConversationID `json:"c,omitempty"`  // else: the members of these
	Except  model.UserID           `json:"x,omitempty"`
	Code    websocket.StatusCode   `json:"code,omitempty"`
	Reason  string                 `json:"reason,omitempty"`
	Frame   json.RawMessage        `json:"f,omitempty"`
}

// eventEnvelope marshals ev's frame and wraps it with ev's routing.
func eventEnvelope(ev model.Event) ([]byte, error) {
	switch {
	case ev.Type == model.EventHello || ev.Type == model.EventResync:
		return nil, fmt.Errorf("%s events are sent by the hub, never published", ev.Type)
	case ev.To.IsZero():
		return nil, fmt.Errorf("%s event has no audience", ev.Type)
	}
	frame, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	env := envelope{Kind: kindEvent, Type: ev.Type, Conv: ev.ConversationID, Except: ev.To.Except, Frame: frame}
	if ev.To.User != 0 {
		env.User = ev.To.User
	} else {
		env.Convs = ev.To.Conversations
	}
	return json.Marshal(env)
}

// decodeEnvelope parses a broker payload, rejecting what no Hub published.
func decodeEnvelope(payload []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return envelope{}, err
	}
	switch env.Kind {
	case kindEvent:
		if len(env.Frame) == 0 || (env.User == 0 && len(env.Convs) == 0) {
			return envelope{}, errors.New("event without frame or audience")
		}
		if (env.Type == model.EventConversationJoined || env.Type == model.EventConversationLeft) &&
			(env.User == 0 || env.Conv == 0) {
			return envelope{}, errors.New("membership event without user or conversation")
		}
	case kindClose:
		if env.User == 0 || !validCloseCode(env.Code) {
			return envelope{}, errors.New("close without user or valid code")
		}
	default:
		return envelope{}, fmt.Errorf("unknown kind %q", env.Kind)
	}
	return env, nil
}

// validCloseCode reports whether code may be sent in a close frame.
func validCloseCode(code websocket.StatusCode) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code < 1000 || code > 1014:
		return false
	}
	return code != 1004 && code != 1005 && code != 1006
}

// maxCloseReason is the most a close frame's reason may hold.
const maxCloseReason = 123

// truncateReason cuts reason to fit a close frame, on a rune boundary.
func truncateReason(reason string) string {
	if len(reason) <= maxCloseReason {
		return reason
	}
	cut := maxCloseReason
	for cut > 0 && reason[cut]&0xC0 == 0x80 { // a continuation byte
		cut--
	}
	return reason[:cut]
}
