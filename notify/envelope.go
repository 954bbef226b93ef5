package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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

// eventEnvelope marshals ev's frame and wraps it with ev's routing: the
// bytes json.Marshal gives for the envelope of json.Marshal(ev), built by
// appending, because every POST publishes one and reflection was most of
// publishing's CPU. Types outside the plain alphabet of the model's
// constants take json.Marshal itself.
func eventEnvelope(ev model.Event) ([]byte, error) {
	switch {
	case ev.Type == model.EventHello || ev.Type == model.EventResync:
		return nil, fmt.Errorf("%s events are sent by the hub, never published", ev.Type)
	case ev.To.IsZero():
		return nil, fmt.Errorf("%s event has no audience", ev.Type)
	case !plainString(string(ev.Type)):
		return marshalEnvelope(ev)
	}
	b := make([]byte, 0, 160)
	b = append(b, `{"k":"`+kindEvent+`"`...)
	b = strconv.AppendQuote(append(b, `,"t":`...), string(ev.Type)) // plain: the same as JSON's quoting
	b = appendInt(b, `,"cv":`, int64(ev.ConversationID))
	if ev.To.User != 0 {
		b = appendInt(b, `,"u":`, int64(ev.To.User))
	} else if len(ev.To.Conversations) > 0 {
		b = append(b, `,"c":[`...)
		for i, c := range ev.To.Conversations {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(c), 10)
		}
		b = append(b, ']')
	}
	b = appendInt(b, `,"x":`, int64(ev.To.Except))
	b = append(b, `,"f":{"type":`...)
	b = strconv.AppendQuote(b, string(ev.Type))
	b = appendInt(b, `,"conversation_id":`, int64(ev.ConversationID))
	b = appendInt(b, `,"message_id":`, int64(ev.MessageID))
	b = appendInt(b, `,"seq":`, ev.Seq)
	b = appendInt(b, `,"event_seq":`, ev.EventSeq)
	b = appendInt(b, `,"user_id":`, int64(ev.UserID))
	if ev.Online != nil {
		b = append(b, `,"online":`...)
		b = strconv.AppendBool(b, *ev.Online)
	}
	return append(b, "}}"...), nil
}

// marshalEnvelope is eventEnvelope by encoding/json.
func marshalEnvelope(ev model.Event) ([]byte, error) {
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

// plainString reports whether s is non-empty and JSON writes it as is
// between quotes: printable ASCII that encoding/json does not escape.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return s != ""
}

// appendInt appends key and n unless n is zero, as omitempty does.
func appendInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), n, 10)
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
