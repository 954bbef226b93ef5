package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/model"
)

type conversationResponse struct {
	ID            model.ConversationID `json:"id"`
	Kind          model.Kind           `json:"kind"`
	Name          *string              `json:"name"`  // null for direct conversations
	Topic         *string              `json:"topic"` // null for direct conversations
	CreatedAt     time.Time            `json:"created_at"`
	LastSeq       int64                `json:"last_seq"`
	LastEventSeq  int64                `json:"last_event_seq"`
	LastMessageAt *time.Time           `json:"last_message_at"` // null when there is no message
	ReadSeq       int64                `json:"read_seq"`
	UnreadCount   int64                `json:"unread_count"`
	// Retention (issue 13): null for direct conversations and for channels
	// that keep messages forever.
	RetentionDays   *int  `json:"retention_days"`
	HistoryStartSeq int64 `json:"history_start_seq"`
}

func toConversationResponse(c model.Conversation) conversationResponse {
	resp := conversationResponse{
		ID: c.ID, Kind: c.Kind, CreatedAt: c.CreatedAt.UTC(), LastSeq: c.LastSeq, LastEventSeq: c.LastEventSeq,
		LastMessageAt: utc(c.LastMessageAt), ReadSeq: c.ReadSeq, UnreadCount: c.UnreadCount,
		RetentionDays: c.RetentionDays, HistoryStartSeq: c.ExpiredSeq + 1,
	}
	if c.Kind == model.KindChannel {
		resp.Name, resp.Topic = &c.Name, &c.Topic
	}
	return resp
}

type memberResponse struct {
	userResponse
	JoinedAt time.Time `json:"joined_at"`
	Online   bool      `json:"online"`
}

func toMemberResponse(m model.Member, online bool) memberResponse {
	return memberResponse{userResponse: toUserResponse(m.User), JoinedAt: m.JoinedAt.UTC(), Online: online}
}

// handleDirectOpen serves POST /api/v1/conversations/direct. When it
// creates the conversation, both users' live connections are told they
// joined it.
func handleDirectOpen(store Store, notifier Notifier) handlerFunc {
	type request struct {
		UserID model.UserID `json:"user_id"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.UserID <= 0 {
			return model.FieldError("user_id", "must be a user's id")
		}
		// One's direct conversation with oneself is a place for notes.
		me := actor(r)
		conv, created, err := store.GetOrCreateDirect(r.Context(), me, req.UserID)
		if err != nil {
			return fmt.Errorf("get or create direct: %w", err)
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			publish(r, notifier, model.ConversationJoined(me, conv.ID))
			if req.UserID != me {
				publish(r, notifier, model.ConversationJoined(req.UserID, conv.ID))
			}
		}
		return encode(w, status, toConversationResponse(conv))
	}
}

// handleConversationList serves GET /api/v1/conversations: the caller's
// conversations by id, a page at a time.
func handleConversationList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		limit, err := intParam(r, "limit", 1, model.MaxConversationLimit, model.DefaultConversationLimit)
		if err != nil {
			return err
		}
		var after model.ConversationID
		cursor, err := cursorParam(r)
		if err != nil {
			return err
		}
		if cursor != "" {
			if after, err = parseID[model.ConversationID](cursor); err != nil {
				return model.FieldError("cursor", "must be a next_cursor from a previous page")
			}
		}
		convs, more, err := store.ListConversations(r.Context(), actor(r), model.ConversationFilter{After: after, Limit: limit})
		if err != nil {
			return fmt.Errorf("list conversations: %w", err)
		}
		key := func(c model.Conversation) string { return strconv.FormatInt(int64(c.ID), 10) }
		return encode(w, http.StatusOK, cursorPage(convs, more, toConversationResponse, key))
	}
}

// handleConversationGet serves GET /api/v1/conversations/{id}.
func handleConversationGet(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		conv, err := store.GetConversation(r.Context(), actor(r), id)
		if err != nil {
			return fmt.Errorf("get conversation: %w", err)
		}
		return encode(w, http.StatusOK, toConversationResponse(conv))
	}
}

// handleMemberList serves GET /api/v1/conversations/{id}/members.
func handleMemberList(logger *slog.Logger, store Store, presence Presence) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		limit, err := limitParam(r, defaultListLimit)
		if err != nil {
			return err
		}
		after, err := cursorParam(r)
		if err != nil {
			return err
		}
		members, more, err := store.ListMembers(r.Context(), actor(r), id, model.MemberFilter{After: after, Limit: limit})
		if err != nil {
			return fmt.Errorf("list members: %w", err)
		}
		// Presence is asked for this page only: one bounded lookup however
		// big the channel.
		ids := make([]model.UserID, len(members))
		for i, m := range members {
			ids[i] = m.User.ID
		}
		online := onlineUsers(r, logger, presence, ids)
		key := func(m model.Member) string { return strings.ToLower(m.User.Username) }
		return encode(w, http.StatusOK, cursorPage(members, more, func(m model.Member) memberResponse { return toMemberResponse(m, online[m.User.ID]) }, key))
	}
}

// handleReadMark serves PUT /api/v1/conversations/{id}/read. When the
// marker moves, the caller's connections (their other devices) are told.
func handleReadMark(store Store, notifier Notifier) handlerFunc {
	type request struct {
		Seq *int64 `json:"seq"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if req.Seq == nil || *req.Seq < 0 {
			return model.FieldError("seq", "must be a seq of this conversation, or 0")
		}
		me := actor(r)
		moved, err := store.MarkRead(r.Context(), me, id, *req.Seq)
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		if moved {
			publish(r, notifier, model.ReadUpdated(me, id, *req.Seq))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

type changeResponse struct {
	EventSeq  int64           `json:"event_seq"`
	Type      model.EventType `json:"type"`
	MessageID model.MessageID `json:"message_id"`
	Seq       int64           `json:"seq"`
}

func toChangeResponse(c model.Change) changeResponse {
	return changeResponse{EventSeq: c.EventSeq, Type: c.Type, MessageID: c.MessageID, Seq: c.Seq}
}

// handleChangeList serves GET /api/v1/conversations/{id}/changes: the
// changes to a conversation's messages after event_seq `after`, oldest
// first.
func handleChangeList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		limit, err := intParam(r, "limit", 1, model.MaxChangesLimit, model.DefaultChangesLimit)
		if err != nil {
			return err
		}
		after, err := seqParam(r, "after", 0)
		if err != nil {
			return err
		}
		f := model.ChangeFilter{ConversationID: id, Limit: limit}
		if after != nil {
			f.After = *after
		}
		changes, more, err := store.ListChanges(r.Context(), actor(r), f)
		if err != nil {
			return fmt.Errorf("list changes: %w", err)
		}
		return encode(w, http.StatusOK, page[changeResponse]{Items: toResponses(changes, toChangeResponse), HasMore: more})
	}
}
