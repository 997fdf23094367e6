package app

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// JobArea is an area with background jobs: handlers on the mux and periodic tasks on the scheduler.
type JobArea interface {
	Jobs(mux *asynq.ServeMux, sched *asynq.Scheduler) error
}

// Task types of the core.
const TaskSessionsCleanup = "core:sessions_cleanup"

// RunWorker runs asynq handlers and the periodic scheduler until ctx ends.
func (a *App) RunWorker(ctx context.Context) error {
	srv := asynq.NewServerFromRedisClient(a.Redis, asynq.Config{
		Concurrency: 8,
		Queues:      map[string]int{"critical": 6, "default": 3, "low": 1},
		Logger:      asynqLogger{a},
		LogLevel:    asynq.WarnLevel,
	})
	sched := asynq.NewSchedulerFromRedisClient(a.Redis, &asynq.SchedulerOpts{Logger: asynqLogger{a}, LogLevel: asynq.WarnLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskSessionsCleanup, a.handleSessionsCleanup)
	if _, err := sched.Register("@every 1h", asynq.NewTask(TaskSessionsCleanup, nil), asynq.Unique(time.Hour)); err != nil {
		return err
	}
	for _, ar := range a.areas {
		if j, ok := ar.(JobArea); ok {
			if err := j.Jobs(mux, sched); err != nil {
				return err
			}
		}
	}
	if err := srv.Start(mux); err != nil {
		return err
	}
	if err := sched.Start(); err != nil {
		srv.Shutdown()
		return err
	}
	a.Logger.Info("background jobs running")
	<-ctx.Done()
	sched.Shutdown()
	srv.Shutdown()
	return nil
}

// handleSessionsCleanup marks expired sessions and deletes ended ones older than 90 days.
func (a *App) handleSessionsCleanup(ctx context.Context, _ *asynq.Task) error {
	if _, err := a.DB.Pool.Exec(ctx, `UPDATE sessions SET status = 'expired' WHERE status = 'active' AND expires_at < now()`); err != nil {
		return err
	}
	_, err := a.DB.Pool.Exec(ctx, `DELETE FROM sessions WHERE status <> 'active' AND last_seen_at < now() - interval '90 days'`)
	return err
}

type asynqLogger struct{ a *App }

func (l asynqLogger) Debug(args ...any) {}
func (l asynqLogger) Info(args ...any)  {}
func (l asynqLogger) Warn(args ...any)  { l.a.Logger.Warn("asynq", "msg", args) }
func (l asynqLogger) Error(args ...any) { l.a.Logger.Error("asynq", "msg", args) }
func (l asynqLogger) Fatal(args ...any) { l.a.Logger.Error("asynq fatal", "msg", args) }
