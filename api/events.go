package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"parley/model"
)

// Server-Sent Events tunables.
const (
	// maxReplay is how many missed events a resumed stream replays; past
	// that it sends resync.
	maxReplay = 100
	// eventsWriteTimeout bounds each write to a stream, so a client that
	// stopped reading is dropped.
	eventsWriteTimeout = 10 * time.Second
	// eventsRetryMin and eventsRetryJitter make the reconnection delay a
	// client is told to use (the retry field) 2 to 5 seconds, different for
	// each stream, so the clients of a restarting instance come back spread
	// out.
	eventsRetryMin    = 2 * time.Second
	eventsRetryJitter = 3 * time.Second
)

// handleEvents serves GET /api/v1/events: the event channel as Server-Sent
// Events. Each frame is an event named after its type, with the frame as
// data; a message.created event also has an id, the stream's cursor: the
// highest message id announced on it, which is also a change id (see
// db.ListChangesSince). A client that reconnects with that cursor in
// Last-Event-ID first gets the events it missed that can be replayed (up to
// maxReplay, else one resync), then the live ones, without a gap or a
// duplicate between the two.
func handleEvents(cfg Config, logger *slog.Logger, store Store, notifier Notifier) handlerFunc {
	resync := model.Resync().Frame()
	return func(w http.ResponseWriter, r *http.Request) error {
		c := login(r)
		if err := requireActiveSession(r.Context(), store, c.SessionID); err != nil {
			return err
		}
		cursor, resume, badCursor := lastEventID(r)

		ctx, cancel := context.WithCancel(r.Context())
		defer cancel() // also ends the stream
		// Subscribe before looking for missed messages: whatever commits
		// in between is both replayed and live, and dropped once.
		frames, err := notifier.Stream(ctx, c.UserID, c.SessionID)
		if err != nil {
			return fmt.Errorf("open stream: %w", err)
		}
		var replay []model.Event
		lost := badCursor
		if resume {
			events, more, err := store.ListChangesSince(ctx, c.UserID, cursor, maxReplay)
			if err != nil {
				return fmt.Errorf("list changes since: %w", err)
			}
			if more {
				lost = true
			} else {
				replay = events
			}
		}

		s := newEventStream(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
		w.WriteHeader(http.StatusOK)
		retry := eventsRetryMin + rand.N(eventsRetryJitter)
		if err := s.write(fmt.Appendf(nil, "retry: %d\n\n", retry.Milliseconds())); err != nil {
			return nil
		}

		// hello comes first, as on a WebSocket; then what was missed.
		hello, ok := <-frames
		if !ok {
			return nil
		}
		if err := s.frame(hello); err != nil {
			return nil
		}
		s.last = cursor
		if lost {
			if err := s.frame(resync); err != nil {
				return nil
			}
		}
		// The latest change replayed of each message, so that the live
		// events of those changes, and of earlier ones, are dropped once.
		replayed := make(map[model.MessageID]int64, len(replay))
		for _, ev := range replay {
			if ev.MessageID != 0 {
				replayed[ev.MessageID] = ev.EventSeq
			}
			if err := s.frame(ev.Frame()); err != nil {
				return nil
			}
		}

		heartbeat := time.NewTicker(cfg.EventsHeartbeat)
		defer heartbeat.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-heartbeat.C:
				if err := s.write([]byte(": keep-alive\n\n")); err != nil {
					return nil
				}
			case f, ok := <-frames:
				if !ok { // dropped: too slow, logged out, or shutting down
					return nil
				}
				if len(replayed) > 0 {
					if id, eventSeq := messageChange(f); id != 0 && eventSeq <= replayed[id] {
						continue
					}
				}
				if err := s.frame(f); err != nil {
					if ctx.Err() == nil {
						logger.DebugContext(ctx, "event stream lost", "request_id", requestIDFrom(ctx), "err", err)
					}
					return nil
				}
			}
		}
	}
}

// lastEventID parses the Last-Event-ID of a reconnecting client: resume
// reports that there is one; bad that it is not a cursor of ours, so what
// was missed cannot be told.
func lastEventID(r *http.Request) (cursor model.MessageID, resume, bad bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		return 0, false, false
	}
	id, err := parseID[model.MessageID](v)
	if err != nil {
		return 0, false, true
	}
	return id, true, false
}

// eventStream writes Server-Sent Events, flushing each one.
type eventStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  []byte
	last model.MessageID // the cursor: the highest message id announced
}

func newEventStream(w http.ResponseWriter) *eventStream {
	return &eventStream{w: w, rc: http.NewResponseController(w)}
}

// frame writes an event frame as an SSE event named after its type; a
// message.created event carries the cursor as its id.
func (s *eventStream) frame(f []byte) error {
	var head struct {
		Type      model.EventType `json:"type"`
		MessageID model.MessageID `json:"message_id"`
	}
	if err := json.Unmarshal(f, &head); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	b := s.buf[:0]
	if head.Type != "" && !bytes.ContainsAny([]byte(head.Type), "\r\n") {
		b = append(append(append(b, "event: "...), head.Type...), '\n')
	}
	if head.Type == model.EventMessageCreated && head.MessageID > 0 {
		s.last = max(s.last, head.MessageID)
		b = strconv.AppendInt(append(b, "id: "...), int64(s.last), 10)
		b = append(b, '\n')
	}
	// JSON from encoding/json has no raw line breaks; split any anyway,
	// since each line of data needs its own field.
	for line := range bytes.Lines(f) {
		b = append(append(b, "data: "...), bytes.TrimRight(line, "\r\n")...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	s.buf = b
	return s.write(b)
}

// write sends b and flushes it, within eventsWriteTimeout.
func (s *eventStream) write(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventsWriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// messageChange returns the message id and event_seq of a message.created,
// message.updated or message.deleted frame, and zeros for any other frame.
func messageChange(f []byte) (model.MessageID, int64) {
	var head struct {
		Type      model.EventType `json:"type"`
		MessageID model.MessageID `json:"message_id"`
		EventSeq  int64           `json:"event_seq"`
	}
	if json.Unmarshal(f, &head) != nil {
		return 0, 0
	}
	switch head.Type {
	case model.EventMessageCreated, model.EventMessageUpdated, model.EventMessageDeleted:
		return head.MessageID, head.EventSeq
	}
	return 0, 0
}
