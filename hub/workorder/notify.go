package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub/outbox"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/web"
)

// In-app notifications from domain events: the assigned technician hears about assignments,
// reassignments, schedule changes and office cancellations; the dispatcher (the work order's
// creator, or every active dispatcher when the system created it) hears about field progress
// and technicians' notes. Nobody is told about their own action.

// NotifyConsumer is this area's name in domain_event_consumers.
const NotifyConsumer = "notifications"

// TaskNotify is the asynq task that drains domain events into notifications.
const TaskNotify = "workorder:notify"

// Jobs implements app.JobArea: a periodic drain of the domain events.
func (a *Area) Jobs(mux *asynq.ServeMux, sched *asynq.Scheduler) error {
	mux.HandleFunc(TaskNotify, func(ctx context.Context, _ *asynq.Task) error {
		_, err := a.Svc.DrainNotifications(ctx)
		return err
	})
	_, err := sched.Register("@every 3s", asynq.NewTask(TaskNotify, nil), asynq.Unique(30*time.Second), asynq.MaxRetry(0), asynq.Timeout(30*time.Second))
	return err
}

// DrainNotifications turns pending domain events into notifications; it returns how many events
// it handled.
func (s *Service) DrainNotifications(ctx context.Context) (int, error) {
	total := 0
	for i := 0; i < 50; i++ {
		n, err := outbox.Drain(ctx, s.DB, NotifyConsumer, 200, s.notify)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// RunNotifier drains domain events into notifications until ctx ends: at once when an event is
// written (LISTEN domain_events), and every few seconds regardless.
func (s *Service) RunNotifier(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.notifyLoop(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("notifier", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
}

func (s *Service) notifyLoop(ctx context.Context) error {
	conn, err := s.DB.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN domain_events`); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `UNLISTEN domain_events`)
	for {
		if _, err := s.DrainNotifications(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

type notice struct {
	to          []string
	title, body string
	link        string
}

func (s *Service) notify(ctx context.Context, tx pgx.Tx, e outbox.Event) error {
	if e.Entity != "work_order" {
		return nil
	}
	var p EventPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	actor := deref(e.ActorID)
	techLink := "/jobs/" + p.ID
	officeLink := "/admin/operations/work-orders/" + p.ID
	name := p.Number + " " + p.Title
	var out []notice
	tech := func(ids []string, title, body string) { out = append(out, notice{ids, title, body, techLink}) }
	office := func(title, body string) error {
		ids, err := dispatchers(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		out = append(out, notice{ids, title, body, officeLink})
		return nil
	}
	when := ""
	if p.ScheduledStart != nil {
		when = " for " + p.ScheduledStart.UTC().Format("Mon Jan 2 15:04 UTC")
	}
	switch e.Topic {
	case TopicAssigned:
		if p.AssignedTo != nil && deref(p.PreviousAssignedTo) != *p.AssignedTo {
			tech([]string{*p.AssignedTo}, "New job: "+name, "You are the primary technician"+when+".")
		}
		var added []string
		for _, id := range p.Crew {
			if !slices.Contains(p.PreviousCrew, id) {
				added = append(added, id)
			}
		}
		tech(added, "You joined the crew of "+name, "Scheduled"+when+".")
		if p.PreviousAssignedTo != nil && (p.AssignedTo == nil || *p.AssignedTo != *p.PreviousAssignedTo) {
			tech([]string{*p.PreviousAssignedTo}, p.Number+" was reassigned", name+" is no longer yours.")
		}
	case TopicUnassigned:
		if p.PreviousAssignedTo != nil {
			tech(append([]string{*p.PreviousAssignedTo}, p.PreviousCrew...), p.Number+" was unassigned", name+" is no longer yours.")
		}
	case TopicUpdated:
		if p.AssignedTo != nil && (slices.Contains(p.Changed, "scheduled_start") || slices.Contains(p.Changed, "scheduled_end") ||
			slices.Contains(p.Changed, "site") || slices.Contains(p.Changed, "access_notes")) {
			tech(append([]string{*p.AssignedTo}, p.Crew...), p.Number+" changed", name+": "+joinLabels(p.Changed)+" updated"+when+".")
		}
	case TopicStatusChanged:
		isTech := actor != "" && (actor == deref(p.AssignedTo) || slices.Contains(p.Crew, actor))
		if isTech {
			body := "Now " + label(p.Status) + "."
			if p.Note != "" {
				body += " " + p.Note
			}
			if err := office(p.Number+" "+label(p.Status), name+" — "+body); err != nil {
				return err
			}
		} else if p.AssignedTo != nil && (p.Status == "canceled" || p.Status == "dispatched" || p.Status == "completed") {
			tech(append([]string{*p.AssignedTo}, p.Crew...), p.Number+" is "+label(p.Status), name+" was set to "+label(p.Status)+" by the office.")
		}
	case TopicNoteAdded:
		isTech := actor != "" && (actor == deref(p.AssignedTo) || slices.Contains(p.Crew, actor))
		if isTech {
			if err := office("Note on "+p.Number, name+": a technician added a note."); err != nil {
				return err
			}
		}
	case TopicDeleted:
		if p.AssignedTo != nil {
			tech(append([]string{*p.AssignedTo}, p.Crew...), p.Number+" was removed", name+" was deleted by the office.")
		}
	case TopicFieldEvent:
		if p.ClockSkew {
			if err := office("Clock skew on "+p.Number, fmt.Sprintf("A device clock was off by more than 15 minutes (%s).", label(p.Event))); err != nil {
				return err
			}
		}
	}
	for _, n := range out {
		for _, to := range n.to {
			if to == "" || to == actor {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notifications (person_id, title, body, link, event_id) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (person_id, event_id, channel) DO NOTHING`, to, truncateStr(n.title, 200), truncateStr(n.body, 1000), n.link, e.EventID); err != nil {
				return err
			}
		}
	}
	return nil
}

// dispatchers returns who hears about a work order's progress: its creator when staff, otherwise
// every active dispatcher.
func dispatchers(ctx context.Context, tx pgx.Tx, woID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT p.id::text FROM work_orders w JOIN people p ON p.id = w.created_by
		WHERE w.id = $1 AND p.status = 'active' AND NOT EXISTS (SELECT 1 FROM technician_profiles t WHERE t.person_id = p.id)`, woID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) > 0 {
		return ids, err
	}
	rows, err = tx.Query(ctx, `SELECT p.id::text FROM people p JOIN person_roles pr ON pr.person_id = p.id JOIN roles r ON r.id = pr.role_id
		WHERE r.name = 'dispatcher' AND p.status = 'active' ORDER BY p.id LIMIT 50`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func joinLabels(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += label(x)
	}
	return out
}

func truncateStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Notification is an in-app notification.
type Notification struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Link      string     `json:"link"`
	EventID   *string    `json:"event_id"`
	ReadAt    *time.Time `json:"read_at"`
	CreatedAt time.Time  `json:"created_at"`
}

// FindNotifications lists a person's in-app notifications, newest first, and counts the unread.
func (s *Service) FindNotifications(ctx context.Context, personID string, unreadOnly bool, limit, offset int) ([]Notification, int, int, error) {
	var total, unread int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT $2 OR read_at IS NULL), count(*) FILTER (WHERE read_at IS NULL)
		FROM notifications WHERE person_id = $1 AND channel = 'in_app'`, personID, unreadOnly).Scan(&total, &unread); err != nil {
		return nil, 0, 0, err
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, title, body, link, event_id, read_at, created_at FROM notifications
		WHERE person_id = $1 AND channel = 'in_app' AND (NOT $2 OR read_at IS NULL) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
		personID, unreadOnly, limit, offset)
	if err != nil {
		return nil, 0, 0, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		return n, r.Scan(&n.ID, &n.Title, &n.Body, &n.Link, &n.EventID, &n.ReadAt, &n.CreatedAt)
	})
	return items, total, unread, err
}

// MarkNotificationRead marks one of a person's notifications read (someone else's is a 404).
func (s *Service) MarkNotificationRead(ctx context.Context, personID, id string) (*Notification, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("notification")
	}
	var n Notification
	err := s.DB.Pool.QueryRow(ctx, `UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND person_id = $2
		RETURNING id, title, body, link, event_id, read_at, created_at`, id, personID).
		Scan(&n.ID, &n.Title, &n.Body, &n.Link, &n.EventID, &n.ReadAt, &n.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("notification")
	}
	return &n, err
}

func (a *Area) handleNotificationIndex(c *gin.Context) {
	limit, offset, err := web.Page(c)
	if err != nil {
		web.Error(c, err)
		return
	}
	unread, err := boolQuery(c, "unread")
	if err != nil {
		web.Error(c, err)
		return
	}
	items, total, unreadN, err := a.Svc.FindNotifications(c.Request.Context(), actor(c), unread != nil && *unread, limit, offset)
	if err != nil {
		web.Error(c, err)
		return
	}
	if items == nil {
		items = []Notification{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "total": total, "limit": limit, "offset": offset, "unread": unreadN})
}

func (a *Area) handleNotificationRead(c *gin.Context) {
	v, err := a.Svc.MarkNotificationRead(c.Request.Context(), actor(c), c.Param("id"))
	ok(c, http.StatusOK, v, err)
}

func (a *Area) handleNotificationReadAll(c *gin.Context) {
	tag, err := a.Svc.DB.Pool.Exec(c.Request.Context(), `UPDATE notifications SET read_at = now() WHERE person_id = $1 AND read_at IS NULL`, actor(c))
	if err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"marked": tag.RowsAffected()})
}
