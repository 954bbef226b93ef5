package api

import (
	"fmt"
	"net/http"
	"time"

	"parley/model"
)

type conversationResponse struct {
	ID          model.ConversationID `json:"id"`
	Kind        model.Kind           `json:"kind"`
	Name        *string              `json:"name"`  // null for direct conversations
	Topic       *string              `json:"topic"` // null for direct conversations
	CreatedAt   time.Time            `json:"created_at"`
	LastSeq     int64                `json:"last_seq"`
	UnreadCount int64                `json:"unread_count"`
}

func toConversationResponse(c model.Conversation) conversationResponse {
	resp := conversationResponse{
		ID: c.ID, Kind: c.Kind, CreatedAt: c.CreatedAt.UTC(), LastSeq: c.LastSeq, UnreadCount: c.UnreadCount,
	}
	if c.Kind == model.KindChannel {
		resp.Name, resp.Topic = &c.Name, &c.Topic
	}
	return resp
}

type memberResponse struct {
	userResponse
	JoinedAt time.Time `json:"joined_at"`
}

func toMemberResponse(m model.Member) memberResponse {
	return memberResponse{userResponse: toUserResponse(m.User), JoinedAt: m.JoinedAt.UTC()}
}

// handleDirectOpen serves POST /api/v1/conversations/direct.
func handleDirectOpen(store Store) handlerFunc {
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
		conv, created, err := store.GetOrCreateDirect(r.Context(), actor(r), req.UserID)
		if err != nil {
			return fmt.Errorf("get or create direct: %w", err)
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return encode(w, status, toConversationResponse(conv))
	}
}

// handleConversationList serves GET /api/v1/conversations.
func handleConversationList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		convs, err := store.ListConversations(r.Context(), actor(r))
		if err != nil {
			return fmt.Errorf("list conversations: %w", err)
		}
		return encode(w, http.StatusOK, list[conversationResponse]{Items: toResponses(convs, toConversationResponse)})
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
func handleMemberList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		members, err := store.ListMembers(r.Context(), actor(r), id)
		if err != nil {
			return fmt.Errorf("list members: %w", err)
		}
		return encode(w, http.StatusOK, list[memberResponse]{Items: toResponses(members, toMemberResponse)})
	}
}

// handleReadMark serves PUT /api/v1/conversations/{id}/read.
func handleReadMark(store Store) handlerFunc {
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
		if err := store.MarkRead(r.Context(), actor(r), id, *req.Seq); err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
