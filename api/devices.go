package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"parley/model"
)

// PushConfig is what the API says and checks about push.
type PushConfig struct {
	// VAPIDPublicKey is the server's VAPID public key (base64url), which
	// browsers subscribe with. Empty: Web Push is off, and webpush devices
	// are refused.
	VAPIDPublicKey string
	// AllowLoopbackHTTP admits device endpoints on http://127.0.0.1 and
	// http://[::1], for tests. Default false: https only.
	AllowLoopbackHTTP bool
}

type deviceResponse struct {
	ID            model.DeviceID   `json:"id"`
	Kind          model.DeviceKind `json:"kind"`
	Endpoint      string           `json:"endpoint"`
	IncludeSender bool             `json:"include_sender"`
	CreatedAt     time.Time        `json:"created_at"`
}

func toDeviceResponse(d model.Device) deviceResponse {
	return deviceResponse{ID: d.ID, Kind: d.Kind, Endpoint: d.Endpoint, IncludeSender: d.IncludeSender, CreatedAt: d.CreatedAt.UTC()}
}

// handleVAPIDKey serves GET /api/v1/push/vapid-key.
func handleVAPIDKey(cfg Config) handlerFunc {
	type response struct {
		PublicKey string `json:"public_key"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if cfg.Push.VAPIDPublicKey == "" {
			return model.Errorf(model.ENotFound, "Web Push is not enabled on this server.")
		}
		return encode(w, http.StatusOK, response{PublicKey: cfg.Push.VAPIDPublicKey})
	}
}

// handleDeviceCreate serves POST /api/v1/devices. Registering an endpoint
// again updates it (200); an endpoint another account registered moves to
// the caller, since a device receives the pushes of whoever signed in on it
// last.
func handleDeviceCreate(cfg Config, store Store, limiter Limiter) handlerFunc {
	type keys struct {
		P256DH string `json:"p256dh"`
		Auth   string `json:"auth"`
	}
	type request struct {
		Kind          model.DeviceKind `json:"kind"`
		Endpoint      string           `json:"endpoint"`
		Keys          *keys            `json:"keys"`
		IncludeSender bool             `json:"include_sender"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		me := actor(r)
		if err := limit(r.Context(), w, limiter, "device:user:"+strconv.FormatInt(int64(me), 10), cfg.Limits.DevicePerUser); err != nil {
			return err
		}
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		d := model.Device{UserID: me, Kind: req.Kind, Endpoint: req.Endpoint, IncludeSender: req.IncludeSender}
		if req.Keys != nil {
			d.P256DH, d.Auth = req.Keys.P256DH, req.Keys.Auth
		}
		if err := d.Validate(cfg.Push.AllowLoopbackHTTP); err != nil {
			return err
		}
		if d.Kind == model.DeviceWebPush && cfg.Push.VAPIDPublicKey == "" {
			return model.FieldError("kind", "webpush is not enabled on this server")
		}
		stored, created, err := store.CreateDevice(r.Context(), d)
		if err != nil {
			return fmt.Errorf("create device: %w", err)
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return encode(w, status, toDeviceResponse(stored))
	}
}

// handleDeviceList serves GET /api/v1/devices: at most
// model.MaxDevicesPerUser, so one page.
func handleDeviceList(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		devices, err := store.ListDevices(r.Context(), actor(r))
		if err != nil {
			return fmt.Errorf("list devices: %w", err)
		}
		return encode(w, http.StatusOK, list[deviceResponse]{Items: toResponses(devices, toDeviceResponse)})
	}
}

// handleDeviceDelete serves DELETE /api/v1/devices/{id}.
func handleDeviceDelete(store Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := parseID[model.DeviceID](r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := store.DeleteDevice(r.Context(), actor(r), id); err != nil {
			return fmt.Errorf("delete device: %w", err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleChannelUpdate serves PATCH /api/v1/channels/{id}: the channel's
// creator or an admin sets its retention_days (null keeps messages
// forever).
func handleChannelUpdate(store Store) handlerFunc {
	type request struct {
		RetentionDays json.RawMessage `json:"retention_days"`
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
		errDays := model.FieldError("retention_days", fmt.Sprintf("must be a whole number of days from 1 to %d, or null to keep messages forever", model.MaxRetentionDays))
		var days *int
		switch string(req.RetentionDays) {
		case "":
			return model.FieldError("retention_days", "is required")
		case "null":
		default:
			n, err := strconv.Atoi(string(req.RetentionDays))
			if err != nil || n < 1 || n > model.MaxRetentionDays {
				return errDays
			}
			days = &n
		}
		conv, err := store.SetChannelRetention(r.Context(), actor(r), id, days)
		if err != nil {
			return fmt.Errorf("update channel: %w", err)
		}
		return encode(w, http.StatusOK, toConversationResponse(conv))
	}
}
