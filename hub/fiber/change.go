package fiber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
)

// Change sources.
const (
	SourceField  = "field"
	SourceVendor = "vendor"
	SourceStaff  = "staff"
)

// Proposal is a proposed create, update or delete of a plant object, or of a splice (kind "splice",
// properties = SpliceInput for a create; object_id = the splice for a delete).
type Proposal struct {
	Kind        string                     `json:"kind"`
	Operation   string                     `json:"operation"`
	ObjectID    string                     `json:"object_id,omitempty"`
	Geometry    json.RawMessage            `json:"geometry,omitempty"`
	Properties  map[string]json.RawMessage `json:"properties,omitempty"`
	Note        string                     `json:"note,omitempty"`
	ClientRef   string                     `json:"client_ref,omitempty"`
	WorkOrderID string                     `json:"work_order_id,omitempty"`
}

// ChangeRequest is a stored proposal and its review.
type ChangeRequest struct {
	ID              string                     `json:"id"`
	Number          string                     `json:"number"`
	Kind            string                     `json:"kind"`
	Operation       string                     `json:"operation"`
	ObjectID        *string                    `json:"object_id"`
	Status          string                     `json:"status"`
	Source          string                     `json:"source"`
	Geometry        json.RawMessage            `json:"geometry"`
	Properties      map[string]json.RawMessage `json:"properties"`
	Before          json.RawMessage            `json:"before"`
	After           json.RawMessage            `json:"after"`
	BaseVersion     *int64                     `json:"base_version"`
	CurrentVersion  *int64                     `json:"current_version"`
	Note            string                     `json:"note"`
	ClientRef       *string                    `json:"client_ref"`
	WorkOrderID     *string                    `json:"work_order_id"`
	RequestedBy     *string                    `json:"requested_by"`
	RequesterName   string                     `json:"requester_name"`
	ReviewedBy      *string                    `json:"reviewed_by"`
	ReviewerName    string                     `json:"reviewer_name"`
	ReviewedAt      *time.Time                 `json:"reviewed_at"`
	ReviewNote      string                     `json:"review_note"`
	AppliedObjectID *string                    `json:"applied_object_id"`
	AppliedVersion  *int64                     `json:"applied_version"`
	CreatedAt       time.Time                  `json:"created_at"`
	// OrganizationID is the requester's organization (a vendor): its people see the request.
	OrganizationID *string `json:"organization_id"`
}

// VisibleTo says whether p may see the request outside review: they proposed it, or it came from
// their organization.
func (cr *ChangeRequest) VisibleTo(p *hub.Principal) bool {
	if p == nil {
		return false
	}
	if cr.RequestedBy != nil && *cr.RequestedBy == p.PersonID {
		return true
	}
	return p.OrganizationID != "" && cr.OrganizationID != nil && *cr.OrganizationID == p.OrganizationID
}

type payload struct {
	Geometry   json.RawMessage            `json:"geometry,omitempty"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func (p *Proposal) check() error {
	f := hub.Fields{}
	if p.Kind != "splice" && KindByName(p.Kind) == nil {
		f.Add("kind", "must be one of "+strings.Join(append(KindNames(), "splice"), ", "))
	}
	switch p.Operation {
	case "create":
		if p.ObjectID != "" {
			f.Add("object_id", "a create names no object")
		}
	case "update", "delete":
		if !postgres.ValidUUID(p.ObjectID) {
			f.Add("object_id", "must be the UUID of the object to "+p.Operation)
		}
	default:
		f.Add("operation", "must be create, update or delete")
	}
	if p.Kind == "splice" && p.Operation == "update" {
		f.Add("operation", "a splice is created or deleted, not updated")
	}
	if len(p.ClientRef) > 100 {
		f.Add("client_ref", "must be at most 100 characters")
	}
	if p.WorkOrderID != "" && !postgres.ValidUUID(p.WorkOrderID) {
		f.Add("work_order_id", "must be a UUID")
	}
	if len(p.Note) > 2000 {
		f.Add("note", "must be at most 2000 characters")
	}
	return f.Err()
}

// applyChange performs a create/update/delete with every validation; expected > 0 pins the version.
func applyChange(ctx context.Context, tx pgx.Tx, kind, op, objectID string, geometry json.RawMessage, props map[string]json.RawMessage, expected int64) (string, int64, error) {
	if kind == "splice" {
		switch op {
		case "create":
			var in SpliceInput
			b, _ := json.Marshal(props)
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				return "", 0, unprocessable("the splice is malformed", map[string]string{"properties": "must be closure_id, tray_id|tray, from, to, position, splice_type, loss_db: " + err.Error()})
			}
			return createSplice(ctx, tx, in)
		case "delete":
			v, err := deleteSplice(ctx, tx, objectID)
			return objectID, v, err
		}
		return "", 0, hub.Errorf(hub.EINVALID, "a splice is created or deleted")
	}
	k := KindByName(kind)
	if k == nil {
		return "", 0, hub.Invalid(map[string]string{"kind": "unknown kind"})
	}
	if op == "delete" {
		v, err := deleteObject(ctx, tx, k, objectID, expected)
		return objectID, v, err
	}
	var geom *Geometry
	if !isNull(geometry) {
		g, err := ParseGeometry(geometry)
		if err != nil {
			return "", 0, unprocessable("the geometry is not usable", map[string]string{"geometry": err.Error()})
		}
		geom = g
	}
	o, errs := ParseObject(k, props, geom, op == "create")
	if errs != nil {
		return "", 0, unprocessable("the object has invalid properties", errs)
	}
	if op == "create" {
		v, err := createObject(ctx, tx, o)
		return o.ID, v, err
	}
	if o.GivenID && o.ID != objectID {
		return "", 0, unprocessable("the id cannot change", map[string]string{"id": "must be the object's id"})
	}
	v, err := updateObject(ctx, tx, o, objectID, expected)
	return objectID, v, err
}

// SaveObject creates, updates or deletes an object directly (staff with network:fiber:write);
// expected > 0 is the version the caller saw.
func (s *Service) SaveObject(ctx context.Context, kind, op, id string, geometry json.RawMessage, props map[string]json.RawMessage, expected int64, actor *hub.Principal) (json.RawMessage, error) {
	k := KindByName(kind)
	if k == nil {
		return nil, notFound("kind " + kind)
	}
	if op != "create" && !postgres.ValidUUID(id) {
		return nil, notFound(k.Label)
	}
	var out json.RawMessage
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		oid, v, err := applyChange(ctx, tx, kind, op, id, geometry, props, expected)
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, actor, "network:fiber:"+op, kind, oid, map[string]any{"version": v}); err != nil {
			return err
		}
		if op != "delete" {
			out, err = findFeature(ctx, tx, k, oid)
		}
		return err
	})
	return out, err
}

// Propose stores a change request after checking it would apply now (it is tried in a savepoint
// and rolled back). A repeated client_ref, or an identical pending splice, returns the earlier
// request with created false.
func (s *Service) Propose(ctx context.Context, p Proposal, source string, actor *hub.Principal) (*ChangeRequest, bool, error) {
	if err := p.check(); err != nil {
		return nil, false, err
	}
	if p.Properties == nil {
		p.Properties = map[string]json.RawMessage{}
	}
	if p.ClientRef != "" {
		var id, by string
		err := s.DB.Pool.QueryRow(ctx, `SELECT id::text, COALESCE(requested_by::text, '') FROM fiber_change_requests WHERE client_ref = $1`, p.ClientRef).Scan(&id, &by)
		if err == nil {
			if actor == nil || by != actor.PersonID {
				return nil, false, hub.Errorf(hub.ECONFLICT, "client_ref is already used")
			}
			cr, err := s.FindChangeRequest(ctx, id)
			return cr, false, err
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, err
		}
	}
	var dedupe *string
	if p.Kind == "splice" && p.Operation == "create" {
		var in SpliceInput
		b, _ := json.Marshal(p.Properties)
		if json.Unmarshal(b, &in) == nil {
			k := in.dedupeKey()
			dedupe = &k
			var id string
			if err := s.DB.Pool.QueryRow(ctx, `SELECT id::text FROM fiber_change_requests WHERE dedupe_key = $1 AND status = 'pending'`, k).Scan(&id); err == nil {
				cr, err := s.FindChangeRequest(ctx, id)
				return cr, false, err
			}
		}
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var before json.RawMessage
		var base *int64
		if p.Operation != "create" && p.Kind != "splice" {
			k := KindByName(p.Kind)
			f, err := findFeature(ctx, tx, k, p.ObjectID)
			if err != nil {
				return err
			}
			before = f
			var v int64
			if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s WHERE id = $1`, k.Table), p.ObjectID).Scan(&v); err != nil {
				return err
			}
			base = &v
		}
		if p.Kind == "splice" && p.Operation == "delete" {
			var closure string
			if err := tx.QueryRow(ctx, `SELECT closure_id::text FROM fiber_splices WHERE id = $1`, p.ObjectID).Scan(&closure); errors.Is(err, pgx.ErrNoRows) {
				return notFound("splice")
			} else if err != nil {
				return err
			}
		}
		// Try it: the same validations as applying, then undo.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		_, _, err = applyChange(ctx, sp, p.Kind, p.Operation, p.ObjectID, p.Geometry, p.Properties, 0)
		sp.Rollback(ctx)
		if err != nil {
			return err
		}
		number, err := postgres.NextNumber(ctx, tx, "fiber_change_request", "FCR")
		if err != nil {
			return err
		}
		pl, _ := json.Marshal(payload{Geometry: p.Geometry, Properties: p.Properties})
		var org, person any
		if actor != nil {
			person = actor.PersonID
			if actor.OrganizationID != "" {
				org = actor.OrganizationID
			}
		}
		err = tx.QueryRow(ctx, `INSERT INTO fiber_change_requests (number, kind, object_id, operation, payload, before, base_version, source,
				requested_by, organization_id, work_order_id, note, client_ref, dedupe_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id::text`,
			number, p.Kind, nilIfEmpty(p.ObjectID), p.Operation, pl, before, base, source, person, org, nilIfEmpty(p.WorkOrderID),
			p.Note, nilIfEmpty(p.ClientRef), dedupe).Scan(&id)
		if err != nil {
			return translate(err)
		}
		return audit(ctx, tx, actor, "network:change_request:create", "fiber_change_request", id, map[string]any{"kind": p.Kind, "operation": p.Operation})
	})
	if err != nil {
		return nil, false, err
	}
	cr, err := s.FindChangeRequest(ctx, id)
	return cr, true, err
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const crColumns = `cr.id::text, cr.number, cr.kind, cr.operation, cr.object_id::text, cr.status, cr.source, cr.payload, cr.before,
	cr.base_version, cr.note, cr.client_ref, cr.work_order_id::text, cr.requested_by::text,
	COALESCE(NULLIF(trim(rq.first_name || ' ' || rq.last_name), ''), rq.email::text, ''),
	cr.reviewed_by::text, COALESCE(NULLIF(trim(rv.first_name || ' ' || rv.last_name), ''), rv.email::text, ''),
	cr.reviewed_at, cr.review_note, cr.applied_object_id::text, cr.applied_version, cr.created_at, cr.organization_id::text
	FROM fiber_change_requests cr LEFT JOIN people rq ON rq.id = cr.requested_by LEFT JOIN people rv ON rv.id = cr.reviewed_by`

func scanCR(r pgx.Row) (*ChangeRequest, error) {
	var cr ChangeRequest
	var pl []byte
	var before []byte
	err := r.Scan(&cr.ID, &cr.Number, &cr.Kind, &cr.Operation, &cr.ObjectID, &cr.Status, &cr.Source, &pl, &before,
		&cr.BaseVersion, &cr.Note, &cr.ClientRef, &cr.WorkOrderID, &cr.RequestedBy, &cr.RequesterName,
		&cr.ReviewedBy, &cr.ReviewerName, &cr.ReviewedAt, &cr.ReviewNote, &cr.AppliedObjectID, &cr.AppliedVersion, &cr.CreatedAt, &cr.OrganizationID)
	if err != nil {
		return nil, err
	}
	var p payload
	json.Unmarshal(pl, &p)
	cr.Geometry, cr.Properties = p.Geometry, p.Properties
	if cr.Properties == nil {
		cr.Properties = map[string]json.RawMessage{}
	}
	if len(before) > 0 {
		cr.Before = before
	}
	return &cr, nil
}

// FindChangeRequest returns a change request with its before and after.
func (s *Service) FindChangeRequest(ctx context.Context, id string) (*ChangeRequest, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("change request")
	}
	cr, err := scanCR(s.DB.Pool.QueryRow(ctx, `SELECT `+crColumns+` WHERE cr.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("change request")
	}
	if err != nil {
		return nil, err
	}
	cr.After = afterOf(cr)
	if k := KindByName(cr.Kind); k != nil && cr.ObjectID != nil {
		var v int64
		if err := s.DB.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s WHERE id = $1 AND deleted_at IS NULL`, k.Table), *cr.ObjectID).Scan(&v); err == nil {
			cr.CurrentVersion = &v
		}
	}
	return cr, nil
}

// afterOf is the object as it would be after the change: before with the proposed properties and
// geometry laid over it (null for a delete).
func afterOf(cr *ChangeRequest) json.RawMessage {
	if cr.Operation == "delete" {
		return nil
	}
	f := map[string]any{"type": "Feature"}
	props := map[string]json.RawMessage{}
	if len(cr.Before) > 0 {
		var b struct {
			Geometry   json.RawMessage            `json:"geometry"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		json.Unmarshal(cr.Before, &b)
		f["geometry"] = b.Geometry
		for k, v := range b.Properties {
			props[k] = v
		}
	}
	for k, v := range cr.Properties {
		props[k] = v
	}
	if !isNull(cr.Geometry) {
		f["geometry"] = cr.Geometry
	}
	props["kind"], _ = json.Marshal(cr.Kind)
	f["properties"] = props
	b, _ := json.Marshal(f)
	return b
}

// CRFilter filters change requests. RequestedBy and OrganizationID together select the requests
// of that person or of that organization (a vendor's own); either alone selects by it.
type CRFilter struct {
	Status         string
	RequestedBy    string
	OrganizationID string
	Limit          int
	Offset         int
}

// CRFilterFor selects the change requests p may follow: theirs and their organization's.
func CRFilterFor(p *hub.Principal) CRFilter {
	return CRFilter{RequestedBy: p.PersonID, OrganizationID: p.OrganizationID}
}

// FindChangeRequests lists change requests, newest first.
func (s *Service) FindChangeRequests(ctx context.Context, f CRFilter) ([]*ChangeRequest, int, error) {
	args := []any{}
	where := []string{"true"}
	if f.Status != "" {
		if f.Status != "pending" && f.Status != "applied" && f.Status != "rejected" {
			return nil, 0, hub.Invalid(map[string]string{"status": "must be pending, applied or rejected"})
		}
		args = append(args, f.Status)
		where = append(where, "cr.status = $"+strconv.Itoa(len(args)))
	}
	switch {
	case f.RequestedBy != "" && f.OrganizationID != "":
		args = append(args, f.RequestedBy, f.OrganizationID)
		where = append(where, fmt.Sprintf("(cr.requested_by = $%d OR cr.organization_id = $%d)", len(args)-1, len(args)))
	case f.RequestedBy != "":
		args = append(args, f.RequestedBy)
		where = append(where, "cr.requested_by = $"+strconv.Itoa(len(args)))
	case f.OrganizationID != "":
		args = append(args, f.OrganizationID)
		where = append(where, "cr.organization_id = $"+strconv.Itoa(len(args)))
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM fiber_change_requests cr WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+crColumns+` WHERE `+w+fmt.Sprintf(` ORDER BY cr.created_at DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ChangeRequest
	for rows.Next() {
		cr, err := scanCR(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, cr)
	}
	return out, total, rows.Err()
}

// Apply performs a pending change request with the same validations as a direct change; an update
// or delete of an object that changed since the proposal is a conflict.
func (s *Service) Apply(ctx context.Context, id, note string, actor *hub.Principal) (*ChangeRequest, error) {
	return s.review(ctx, id, note, actor, true)
}

// Reject closes a pending change request without changing the plant.
func (s *Service) Reject(ctx context.Context, id, note string, actor *hub.Principal) (*ChangeRequest, error) {
	return s.review(ctx, id, note, actor, false)
}

func (s *Service) review(ctx context.Context, id, note string, actor *hub.Principal, apply bool) (*ChangeRequest, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("change request")
	}
	if len(note) > 2000 {
		return nil, hub.Invalid(map[string]string{"note": "must be at most 2000 characters"})
	}
	var person any
	if actor != nil {
		person = actor.PersonID
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		cr, err := scanCR(tx.QueryRow(ctx, `SELECT `+crColumns+` WHERE cr.id = $1 FOR UPDATE OF cr`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("change request")
		}
		if err != nil {
			return err
		}
		if cr.Status != "pending" {
			return hub.Errorf(hub.ECONFLICT, "the change request is %s already", cr.Status)
		}
		if !apply {
			if _, err := tx.Exec(ctx, `UPDATE fiber_change_requests SET status = 'rejected', reviewed_by = $2, reviewed_at = now(),
				review_note = $3, updated_at = now() WHERE id = $1`, id, person, note); err != nil {
				return err
			}
			return audit(ctx, tx, actor, "network:change_request:reject", "fiber_change_request", id, nil)
		}
		var expected int64
		if cr.BaseVersion != nil {
			expected = *cr.BaseVersion
		}
		objectID := ""
		if cr.ObjectID != nil {
			objectID = *cr.ObjectID
		}
		oid, v, err := applyChange(ctx, tx, cr.Kind, cr.Operation, objectID, cr.Geometry, cr.Properties, expected)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE fiber_change_requests SET status = 'applied', reviewed_by = $2, reviewed_at = now(),
			review_note = $3, applied_object_id = $4, applied_version = $5, updated_at = now() WHERE id = $1`, id, person, note, oid, v); err != nil {
			return err
		}
		ev, _ := json.Marshal(map[string]any{"kind": cr.Kind, "operation": cr.Operation, "object_id": oid, "version": v})
		if _, err := tx.Exec(ctx, `INSERT INTO domain_events (topic, entity, entity_id, payload, actor_id) VALUES ('fiber.change_applied', $1, $2, $3, $4)`,
			cr.Kind, oid, ev, person); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "network:change_request:apply", "fiber_change_request", id, map[string]any{"object_id": oid, "version": v})
	})
	if err != nil {
		return nil, err
	}
	return s.FindChangeRequest(ctx, id)
}
