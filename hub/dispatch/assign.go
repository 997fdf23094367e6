package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// assignment is one change of primary technician, applied only if the work order still has the
// version it was decided on (optimistic locking).
type assignment struct {
	JobID   string
	To      *string // nil unassigns
	Version int64
	ETA     *time.Time
	Start   *time.Time // a new scheduled start (the end moves with it), or nil
	Source  string     // auto | manual
}

// writeAssignments applies assignments in a few set-based statements: the work orders (version
// bumped), the primary crew rows, and one domain event each (work_order.assigned, or
// work_order.unassigned), all in tx. It returns the new version of each work order it changed;
// those missing had another version (or are gone).
func writeAssignments(ctx context.Context, tx pgx.Tx, as []assignment, actorID string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(as) == 0 {
		return out, nil
	}
	n := len(as)
	ids, tos, vers, srcs := make([]string, n), make([]*string, n), make([]int64, n), make([]string, n)
	etas, starts := make([]*time.Time, n), make([]*time.Time, n)
	for i, a := range as {
		ids[i], tos[i], vers[i], etas[i], starts[i], srcs[i] = a.JobID, a.To, a.Version, a.ETA, a.Start, a.Source
	}
	rows, err := tx.Query(ctx, `WITH u AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::text[])
				AS u(id, assigned_to, version, eta, start, source)),
		old AS (SELECT w.id, w.assigned_to, (SELECT coalesce(json_agg(wa.person_id), '[]') FROM work_order_assignments wa
			WHERE wa.work_order_id = w.id AND NOT wa.is_primary)::text AS crew FROM work_orders w JOIN u ON u.id = w.id),
		upd AS (
			UPDATE work_orders w SET assigned_to = u.assigned_to, version = w.version + 1, updated_at = now(),
				estimated_arrival_at = CASE WHEN u.assigned_to IS NULL THEN NULL ELSE coalesce(u.eta, u.start, w.estimated_arrival_at) END,
				scheduled_end = CASE WHEN u.start IS NULL THEN w.scheduled_end
					WHEN w.scheduled_end IS NOT NULL AND w.scheduled_start IS NOT NULL THEN u.start + (w.scheduled_end - w.scheduled_start)
					ELSE NULL END,
				scheduled_start = coalesce(u.start, w.scheduled_start),
				status = CASE WHEN u.start IS NOT NULL AND w.status = 'draft' THEN 'scheduled' ELSE w.status END
			FROM u WHERE w.id = u.id AND w.version = u.version AND w.is_active AND w.status NOT IN ('completed', 'canceled')
			RETURNING w.id, w.version, w.number, w.assigned_to, u.source)
		SELECT upd.id, upd.version, upd.number, upd.assigned_to, old.assigned_to, old.crew, upd.source FROM upd JOIN old ON old.id = upd.id`,
		ids, tos, vers, etas, starts, srcs)
	if err != nil {
		return nil, fmt.Errorf("dispatch: assign: %w", err)
	}
	type changed struct {
		id, number, source, crew string
		version                  int64
		to, prev                 *string
	}
	var ch []changed
	for rows.Next() {
		var c changed
		if err := rows.Scan(&c.id, &c.version, &c.number, &c.to, &c.prev, &c.crew, &c.source); err != nil {
			rows.Close()
			return nil, err
		}
		ch = append(ch, c)
		out[c.id] = c.version
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(err)
	}
	if len(ch) == 0 {
		return out, nil
	}
	m := len(ch)
	cid, ccrew, csrc, cto, cprev := make([]string, m), make([]string, m), make([]string, m), make([]*string, m), make([]*string, m)
	for i, c := range ch {
		cid[i], ccrew[i], csrc[i], cto[i], cprev[i] = c.id, c.crew, c.source, c.to, c.prev
	}
	if _, err := tx.Exec(ctx, `DELETE FROM work_order_assignments wa USING unnest($1::uuid[], $2::uuid[]) AS u(id, assigned_to)
		WHERE wa.work_order_id = u.id AND (wa.is_primary OR wa.person_id = u.assigned_to)`, cid, cto); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary)
		SELECT u.id, u.assigned_to, 'primary', true FROM unnest($1::uuid[], $2::uuid[]) AS u(id, assigned_to) WHERE u.assigned_to IS NOT NULL`,
		cid, cto); err != nil {
		return nil, err
	}
	// The payload has the shape of the work order area's events (workorder.EventPayload), plus source.
	if _, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id)
		SELECT CASE WHEN w.assigned_to IS NULL THEN 'work_order.unassigned' ELSE 'work_order.assigned' END, 'work_order', w.id,
			jsonb_build_object('id', w.id, 'number', w.number, 'version', w.version, 'status', w.status, 'assigned_to', w.assigned_to,
				'previous_assigned_to', u.prev, 'crew', (SELECT coalesce(jsonb_agg(wa.person_id), '[]') FROM work_order_assignments wa
					WHERE wa.work_order_id = w.id AND NOT wa.is_primary),
				'previous_crew', u.prev_crew::jsonb, 'scheduled_start', w.scheduled_start, 'scheduled_end', w.scheduled_end,
				'title', w.title, 'customer_id', w.customer_id, 'source', u.source), $5::uuid
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(id, prev, prev_crew, source) JOIN work_orders w ON w.id = u.id`,
		cid, cprev, ccrew, csrc, nilIfEmpty(actorID)); err != nil {
		return nil, err
	}
	// The audit trail, in the shape workorder.AssignWorkOrderTx writes (plus the source: manual
	// from the board, auto from auto-assign).
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, details)
		SELECT $5::uuid, coalesce((SELECT email::text FROM people WHERE id = $5::uuid), 'system'),
			CASE WHEN w.assigned_to IS NULL THEN 'work_order.unassigned' ELSE 'work_order.assigned' END, 'work_order', w.id::text,
			jsonb_build_object('assigned_to', w.assigned_to, 'previous', u.prev, 'crew', (SELECT coalesce(jsonb_agg(wa.person_id), '[]')
				FROM work_order_assignments wa WHERE wa.work_order_id = w.id AND NOT wa.is_primary), 'source', u.source)
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(id, prev, prev_crew, source) JOIN work_orders w ON w.id = u.id`,
		cid, cprev, ccrew, csrc, nilIfEmpty(actorID)); err != nil {
		return nil, err
	}
	// A manual decision settles the queue entry too.
	_, err = tx.Exec(ctx, `UPDATE work_order_assignment_queue q SET status = CASE WHEN u.assigned_to IS NULL THEN 'queued' ELSE 'assigned' END,
			assigned_to = u.assigned_to, reason = CASE WHEN u.assigned_to IS NULL THEN 'unassigned by a dispatcher' ELSE 'assigned by a dispatcher' END,
			updated_at = now()
		FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(id, assigned_to, source)
		WHERE q.work_order_id = u.id AND u.source = 'manual'`, cid, cto, csrc)
	return out, err
}

// AssignInput is a dispatcher's assign, reassign (assigned_to set) or unassign (assigned_to null).
type AssignInput struct {
	AssignedTo     *string    `json:"assigned_to"`
	Version        int64      `json:"version"`
	ScheduledStart *time.Time `json:"scheduled_start"`
}

// Assign sets (or clears) a work order's primary technician, optionally moving its slot, if the
// work order is still at in.Version; otherwise it is a conflict naming both versions.
func (s *Service) Assign(ctx context.Context, workOrderID string, in AssignInput, actorID string) (*BoardJob, error) {
	if !postgres.ValidUUID(workOrderID) {
		return nil, hub.Errorf(hub.ENOTFOUND, "work order not found")
	}
	f := hub.Fields{}
	if in.Version < 1 {
		f.Add("version", "is required: the version of the work order you are changing")
	}
	if in.AssignedTo != nil && !postgres.ValidUUID(*in.AssignedTo) {
		f.Add("assigned_to", "must be a technician id or null")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var version int64
		var status, number string
		err := tx.QueryRow(ctx, `SELECT version, status, number FROM work_orders WHERE id = $1 AND is_active`, workOrderID).Scan(&version, &status, &number)
		if err == pgx.ErrNoRows {
			return hub.Errorf(hub.ENOTFOUND, "work order not found")
		} else if err != nil {
			return err
		}
		if status == "completed" || status == "canceled" {
			return hub.Errorf(hub.ECONFLICT, "work order %s is %s and can no longer be assigned", number, status)
		}
		if in.AssignedTo != nil {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM technician_profiles tp JOIN people p ON p.id = tp.person_id
				WHERE tp.person_id = $1 AND tp.is_active AND p.status = 'active')`, *in.AssignedTo).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return hub.Invalid(map[string]string{"assigned_to": "is not an active technician"})
			}
		}
		if version != in.Version {
			return hub.Errorf(hub.ECONFLICT, "work order %s was changed by someone else (you have version %d, it is now %d): reload and try again",
				number, in.Version, version)
		}
		got, err := writeAssignments(ctx, tx, []assignment{{JobID: workOrderID, To: in.AssignedTo, Version: in.Version,
			Start: in.ScheduledStart, Source: "manual"}}, actorID)
		if err != nil {
			return err
		}
		if _, ok := got[workOrderID]; !ok {
			return hub.Errorf(hub.ECONFLICT, "work order %s was changed by someone else: reload and try again", number)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.FindBoardJob(ctx, workOrderID)
}
