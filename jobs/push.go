package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"parley/model"
	"parley/push"
)

// MessageCreatedArgs is the task that follows each new message.
type MessageCreatedArgs struct {
	ConversationID model.ConversationID `json:"conversation_id"`
	MessageID      model.MessageID      `json:"message_id"`
	Seq            int64                `json:"seq"`
	SenderID       model.UserID         `json:"sender_id"`
}

// Kind names the task in the queue.
func (MessageCreatedArgs) Kind() string { return "message_created" }

// PushArgs is the task that pushes to one device. Only DeviceID makes it
// unique: while one device's push waits out the collapse window (or is
// sent, or retried), the pushes of further messages to it are that one.
type PushArgs struct {
	DeviceID       model.DeviceID       `json:"device_id" river:"unique"`
	UserID         model.UserID         `json:"user_id"`
	ConversationID model.ConversationID `json:"conversation_id"`
}

// Kind names the task in the queue.
func (PushArgs) Kind() string { return "push" }

// unfinishedStates are the states in which a unique task absorbs the next
// one like it (a device's push, the next message's): all but the finished
// ones (River requires available, pending, running and scheduled).
var unfinishedStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}

// fanoutWorker runs message_created: it finds the devices of the members
// with no live connection on any instance and enqueues a push to each.
type fanoutWorker struct {
	river.WorkerDefaults[MessageCreatedArgs]
	cfg    Config
	h      Handlers
	logger *slog.Logger
}

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[MessageCreatedArgs]) error {
	a := job.Args
	devices, err := w.h.Store.ListPushDevices(ctx, a.ConversationID, a.SenderID)
	if err != nil || len(devices) == 0 {
		return err
	}
	offline, err := w.offline(ctx, devices)
	if err != nil {
		return err
	}
	if len(offline) == 0 {
		return nil
	}
	at := time.Now().Add(w.cfg.CollapseWindow)
	params := make([]river.InsertManyParams, len(offline))
	for i, d := range offline {
		params[i] = river.InsertManyParams{
			Args: PushArgs{DeviceID: d.ID, UserID: d.UserID, ConversationID: a.ConversationID},
			InsertOpts: &river.InsertOpts{
				ScheduledAt: at,
				UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: unfinishedStates},
			},
		}
	}
	if _, err := river.ClientFromContext[*sql.Tx](ctx).InsertMany(ctx, params); err != nil {
		return fmt.Errorf("enqueue pushes: %w", err)
	}
	return nil
}

// offline returns those of devices whose users have no live connection.
func (w *fanoutWorker) offline(ctx context.Context, devices []model.Device) ([]model.Device, error) {
	if w.h.Presence == nil {
		return devices, nil
	}
	users := make([]model.UserID, 0, len(devices))
	for i, d := range devices {
		if i == 0 || devices[i-1].UserID != d.UserID { // sorted by user
			users = append(users, d.UserID)
		}
	}
	online, err := w.h.Presence.Online(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	var out []model.Device
	for _, d := range devices {
		if !online[d.UserID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// pushWorker runs push: it tells one device of the newest message of the
// conversation, unless its user has come online, read it, or left, and
// removes the device if its endpoint is gone.
type pushWorker struct {
	river.WorkerDefaults[PushArgs]
	cfg    Config
	h      Handlers
	logger *slog.Logger
}

func (w *pushWorker) Work(ctx context.Context, job *river.Job[PushArgs]) error {
	a := job.Args
	d, err := w.h.Store.GetDevice(ctx, a.DeviceID)
	if model.ErrorCode(err) == model.ENotFound || (err == nil && d.UserID != a.UserID) {
		return nil // removed, or registered to another account since
	}
	if err != nil {
		return err
	}
	if w.h.Presence != nil {
		online, err := w.h.Presence.Online(ctx, []model.UserID{a.UserID})
		if err != nil {
			return fmt.Errorf("presence: %w", err)
		}
		if online[a.UserID] {
			return nil
		}
	}
	pm, ok, err := w.h.Store.GetPushMessage(ctx, a.UserID, a.ConversationID)
	if err != nil || !ok {
		return err
	}
	err = w.h.Sender.Send(ctx, d, push.Body(pm, d.IncludeSender))
	var permanent *push.PermanentError
	switch {
	case errors.Is(err, push.ErrGone):
		w.logger.InfoContext(ctx, "push endpoint gone: device removed", "device_id", d.ID, "user_id", d.UserID)
		if err := w.h.Store.DeleteDevice(ctx, d.UserID, d.ID); err != nil && model.ErrorCode(err) != model.ENotFound {
			return err
		}
		return nil
	case errors.As(err, &permanent):
		return river.JobCancel(err)
	}
	return err
}

// NextRetry waits RetryBase, then twice as long each time, up to an hour,
// give or take a tenth so that retries of many devices spread out.
func (w *pushWorker) NextRetry(job *river.Job[PushArgs]) time.Time {
	d := w.cfg.RetryBase << min(max(job.Attempt-1, 0), 20)
	d = min(d, time.Hour)
	d += time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return time.Now().Add(d)
}

// Timeout bounds one delivery attempt.
func (w *pushWorker) Timeout(*river.Job[PushArgs]) time.Duration { return 30 * time.Second }
