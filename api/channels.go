package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"parley/model"
)

type channelResponse struct {
	ID          model.ConversationID `json:"id"`
	Kind        model.Kind           `json:"kind"`
	Name        string               `json:"name"`
	Topic       string               `json:"topic"`
	CreatedAt   time.Time            `json:"created_at"`
	MemberCount int64                `json:"member_count"`
	IsMember    bool                 `json:"is_member"`
}

func toChannelResponse(c model.Channel) channelResponse {
	return channelResponse{
		ID: c.ID, Kind: model.KindChannel, Name: c.Name, Topic: c.Topic, CreatedAt: c.CreatedAt.UTC(),
		MemberCount: c.MemberCount, IsMember: c.IsMember,
	}
}

// handleChannelCreate serves POST /api/v1/channels. The creator's live
// connections are told they joined, so they receive the channel's events.
func handleChannelCreate(store Store, notifier Notifier) handlerFunc {
	type request struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		c := model.NewChannel{Name: strings.TrimSpace(req.Name), Topic: req.Topic}
		if c.Name != "" {
			if c.Name, err = enforceName("name", c.Name); err != nil {
				return err
			}
		}
		if err := c.Normalize(); err != nil {
			return err
		}
		me := actor(r)
		conv, err := store.CreateChannel(r.Context(), me, c)
		if err != nil {
			return fmt.Errorf("create channel: %w", err)
		}
		publish(r, notifier, model.ConversationJoined(me, conv.ID))
		return encode(w, http.StatusCreated, toConversationResponse(conv))
	}
}

// handleChannelList serves GET /api/v1/channels.
func handleChannelList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sp, err := searchPageParams(r)
		if err != nil {
			return err
		}
		channels, more, err := store.ListChannels(r.Context(), actor(r), model.ChannelFilter{Query: sp.Query, After: sp.After, Limit: sp.Limit})
		if err != nil {
			return fmt.Errorf("list channels: %w", err)
		}
		key := func(c model.Channel) string { return strings.ToLower(c.Name) }
		return encode(w, http.StatusOK, cursorPage(channels, more, toChannelResponse, key))
	}
}

// handleChannelJoin serves PUT /api/v1/channels/{id}/members/me.
func handleChannelJoin(store Store, notifier Notifier) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		me := actor(r)
		conv, joined, err := store.JoinChannel(r.Context(), me, id)
		if err != nil {
			return fmt.Errorf("join channel: %w", err)
		}
		if joined {
			publish(r, notifier, model.ConversationJoined(me, id), model.MemberJoined(id, me))
		}
		return encode(w, http.StatusOK, toConversationResponse(conv))
	}
}

// handleChannelLeave serves DELETE /api/v1/channels/{id}/members/me.
func handleChannelLeave(store Store, notifier Notifier) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.ConversationID](r.PathValue("id"))
		if err != nil {
			return err
		}
		me := actor(r)
		left, err := store.LeaveChannel(r.Context(), me, id)
		if err != nil {
			return fmt.Errorf("leave channel: %w", err)
		}
		if left {
			publish(r, notifier, model.ConversationLeft(me, id), model.MemberLeft(id, me))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
