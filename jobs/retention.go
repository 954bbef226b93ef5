package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"parley/model"
)

// RetentionArgs is the periodic task that deletes expired messages.
type RetentionArgs struct{}

// Kind names the task in the queue.
func (RetentionArgs) Kind() string { return "retention" }

// InsertOpts keeps one retention task waiting at a time.
func (RetentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinishedStates}}
}

// RetentionReport is what a retention run removed; the task records it as
// its output, and logs it.
type RetentionReport struct {
	Channels        int   `json:"channels"`         // channels with a retention
	MessagesDeleted int64 `json:"messages_deleted"` // in all of them
}

// retentionWorker deletes, in every channel with a retention, the messages
// older than it, a batch per short transaction.
type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	cfg    Config
	store  Store
	logger *slog.Logger
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	report, err := Expire(ctx, w.store, w.cfg.Now(), w.cfg.RetentionBatch, w.logger)
	if err != nil {
		return err
	}
	return river.RecordOutput(ctx, report)
}

// Timeout: a run deletes in batches and may take long; the batches bound
// the locks, not the run.
func (w *retentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return time.Hour }

// Expire deletes, in every channel with a retention, the messages created
// before now minus its retention, batch at a time, and reports what it
// removed.
func Expire(ctx context.Context, store Store, now time.Time, batch int, logger *slog.Logger) (RetentionReport, error) {
	var report RetentionReport
	var after model.ConversationID
	for {
		channels, err := store.ListRetentionChannels(ctx, after, 100)
		if err != nil {
			return report, err
		}
		for _, c := range channels {
			cutoff := now.Add(-time.Duration(c.Days) * 24 * time.Hour)
			var deleted, start int64
			for {
				n, s, err := store.ExpireMessages(ctx, c.ID, cutoff, batch)
				if err != nil {
					return report, err
				}
				if n == 0 {
					break
				}
				deleted, start = deleted+n, s
			}
			if deleted > 0 {
				logger.InfoContext(ctx, "retention deleted messages", "conversation_id", c.ID,
					"deleted", deleted, "history_start_seq", start, "retention_days", c.Days)
			}
			report.Channels++
			report.MessagesDeleted += deleted
		}
		if len(channels) < 100 {
			break
		}
		after = channels[len(channels)-1].ID
	}
	logger.InfoContext(ctx, "retention done", "channels", report.Channels, "messages_deleted", report.MessagesDeleted)
	return report, nil
}
