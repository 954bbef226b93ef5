package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/model"
)

type messageResponse struct {
	ID             model.MessageID      `json:"id"`
	ConversationID model.ConversationID `json:"conversation_id"`
	Seq            int64                `json:"seq"`
	SenderID       model.UserID         `json:"sender_id"`
	Body           string               `json:"body"`
	ClientMsgID    *string              `json:"client_msg_id"`
	CreatedAt      time.Time            `json:"created_at"`
	EditedAt       *time.Time           `json:"edited_at"`
	DeletedAt      *time.Time           `json:"deleted_at"`
}

func toMessageResponse(m model.Message) messageResponse {
	resp := messageResponse{
		ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq, SenderID: m.SenderID, Body: m.Body,
		CreatedAt: m.CreatedAt.UTC(), EditedAt: utc(m.EditedAt), DeletedAt: utc(m.DeletedAt),
	}
	if m.ClientMsgID != "" {
		resp.ClientMsgID = &m.ClientMsgID
	}
	return resp
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// handleMessageCreate serves POST /api/v1/conversations/{id}/messages.
// A new message (not a retry) is announced to the conversation's members.
func handleMessageCreate(cfg Config, store Store, limiter Limiter, notifier Notifier) handlerFunc {
	type request struct {
		Body        string `json:"body"`
		ClientMsgID string `json:"client_msg_id"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		me := actor(r)
		if err := limit(r.Context(), w, limiter, "post:user:"+strconv.FormatInt(int64(me), 10), cfg.Limits.PostPerUser); err != nil {
			return err
		}
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		// The body is kept as sent, not trimmed: its formatting is the sender's.
		if err := model.ValidateBody(req.Body); err != nil {
			return err
		}
		if err := model.ValidateClientMsgID(req.ClientMsgID); err != nil {
			return err
		}
		msg := model.Message{ConversationID: id, SenderID: me, Body: req.Body, ClientMsgID: req.ClientMsgID}
		// The store announces each message it commits, in seq order: posts
		// are stored in batches, and their handlers would race to publish.
		created, err := store.PostMessage(r.Context(), &msg, func(m model.Message) {
			publish(r, notifier, model.MessageCreated(m.ConversationID, m.ID, m.Seq, m.EventSeq))
		})
		if err != nil {
			return fmt.Errorf("create message: %w", err)
		}
		status := http.StatusOK // a retry with a known client_msg_id, announced the first time
		if created {
			status = http.StatusCreated
		}
		return encodeMessage(w, status, msg)
	}
}

// seqParam returns query parameter name as a seq of at least lo, or nil when
// it is absent.
func seqParam(r *http.Request, name string, lo int64) (*int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo {
		return nil, model.FieldError(name, fmt.Sprintf("must be an integer of at least %d", lo))
	}
	return &n, nil
}

// handleMessageList serves GET /api/v1/conversations/{id}/messages.
func handleMessageList(cfg Config, store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		limit, err := limitParam(r, cfg.HistoryLimit)
		if err != nil {
			return err
		}
		before, err := seqParam(r, "before", 1)
		if err != nil {
			return err
		}
		after, err := seqParam(r, "after", 0)
		if err != nil {
			return err
		}
		if before != nil && after != nil {
			return model.FieldError("after", "cannot be combined with before")
		}
		f := model.HistoryFilter{ConversationID: id, Before: before, After: after, Limit: limit}
		msgs, more, err := store.ListMessages(r.Context(), actor(r), f)
		if err != nil {
			return fmt.Errorf("list messages: %w", err)
		}
		// page[messageResponse]{Items: …, HasMore: more}
		return encodeMessages(w, http.StatusOK, `{"items":[`, msgs, `],"has_more":`+strconv.FormatBool(more)+`}`)
	}
}

// handleMessageBatch serves GET /api/v1/messages?ids=1,2,3.
func handleMessageBatch(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		errIDs := model.FieldError("ids", fmt.Sprintf("must be 1 to %d comma-separated message ids", model.MaxBatchIDs))
		parts := strings.Split(r.URL.Query().Get("ids"), ",")
		if len(parts) > model.MaxBatchIDs {
			return errIDs
		}
		ids := make([]model.MessageID, 0, len(parts))
		for _, p := range parts {
			id, err := parseID[model.MessageID](p)
			if err != nil {
				return errIDs
			}
			ids = append(ids, id)
		}
		msgs, err := store.GetMessages(r.Context(), actor(r), ids)
		if err != nil {
			return fmt.Errorf("get messages: %w", err)
		}
		return encodeMessages(w, http.StatusOK, `{"items":[`, msgs, `]}`) // list[messageResponse]
	}
}

// handleMessageGet serves GET /api/v1/messages/{id}.
func handleMessageGet(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.MessageID](r.PathValue("id"))
		if err != nil {
			return err
		}
		msg, err := store.GetMessage(r.Context(), actor(r), id)
		if err != nil {
			return fmt.Errorf("get message: %w", err)
		}
		return encodeMessage(w, http.StatusOK, msg)
	}
}

// handleMessageUpdate serves PATCH /api/v1/messages/{id}.
func handleMessageUpdate(store Store, notifier Notifier) handlerFunc {
	type request struct {
		Body string `json:"body"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.MessageID](r.PathValue("id"))
		if err != nil {
			return err
		}
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := model.ValidateBody(req.Body); err != nil {
			return err
		}
		msg, err := store.UpdateMessage(r.Context(), actor(r), id, req.Body)
		if err != nil {
			return fmt.Errorf("update message: %w", err)
		}
		publish(r, notifier, model.MessageUpdated(msg.ConversationID, msg.ID, msg.Seq, msg.EventSeq))
		return encodeMessage(w, http.StatusOK, msg)
	}
}

// handleMessageDelete serves DELETE /api/v1/messages/{id}. Deleting again
// announces it again, with the same event_seq, which clients that hold it
// ignore.
func handleMessageDelete(store Store, notifier Notifier) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.MessageID](r.PathValue("id"))
		if err != nil {
			return err
		}
		msg, err := store.DeleteMessage(r.Context(), actor(r), id)
		if err != nil {
			return fmt.Errorf("delete message: %w", err)
		}
		publish(r, notifier, model.MessageDeleted(msg.ConversationID, msg.ID, msg.Seq, msg.EventSeq))
		return encodeMessage(w, http.StatusOK, msg)
	}
}
