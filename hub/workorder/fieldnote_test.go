package workorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/workorder"
	"dotmac.dev/field/sync/field"
)

// noteWorld is a set of jobs and stored notes that a list of notes is added to: two jobs of
// tech1 (tech2 on crew of the first), a job of tech2 only with a note of tech2's, an inactive
// job of tech1's.
type noteWorld struct {
	j1, j2, jx, off string
	storedP         string // client_ref of tech1's note on j1
	storedPID       string // its id
	storedQ         string // client_ref of tech2's (crew) note on j1
	storedR         string // client_ref of tech2's note on jx
}

func (e *env) noteWorld(svc *workorder.Service) noteWorld {
	e.t.Helper()
	ctx := context.Background()
	w := noteWorld{j1: e.newWO(e.tech1ID, e.tech2ID).ID, j2: e.newWO(e.tech1ID).ID, jx: e.newWO(e.tech2ID).ID, off: e.newWO(e.tech1ID).ID,
		storedP: newID(), storedQ: newID(), storedR: newID()}
	add := func(actor, job, ref string) string {
		n, created, err := svc.AddFieldNote(ctx, actor, "", job, field.NoteRequest{ClientRef: ref, Body: "before"})
		if err != nil || !created {
			e.t.Fatalf("stored note: %v", err)
		}
		return n.ID
	}
	w.storedPID = add(e.tech1ID, w.j1, w.storedP)
	add(e.tech2ID, w.j1, w.storedQ)
	add(e.tech2ID, w.jx, w.storedR)
	if _, err := e.DB.Pool.Exec(ctx, `UPDATE work_orders SET is_active = false WHERE id = $1`, w.off); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// notes is the list every case of the run covers, in order, for world w; id is a fresh note id
// the device gave.
func (w noteWorld) notes(id string) []workorder.FieldNote {
	ref1, ref2 := newID(), newID()
	n := func(job, ref, body string, opt workorder.FieldOptions) workorder.FieldNote {
		return workorder.FieldNote{JobID: job, Request: field.NoteRequest{ClientRef: ref, Body: body}, Options: opt}
	}
	former := workorder.FieldOptions{FormerHolder: true}
	return []workorder.FieldNote{
		n(w.j1, ref1, "first", workorder.FieldOptions{ID: id}),  // created with the device's id
		n(w.j1, newID(), "   ", workorder.FieldOptions{}),       // 400
		n(w.j1, w.storedP, "again", workorder.FieldOptions{}),   // replay of a stored note
		n(w.j2, w.storedP, "again", workorder.FieldOptions{}),   // 409: stored on another job
		n(w.j2, ref2, "second", workorder.FieldOptions{ID: id}), // the device's id is taken (above): a fresh one
		n(w.j1, ref1, "first", workorder.FieldOptions{}),        // replay of the first
		n(w.j2, ref1, "first", workorder.FieldOptions{}),        // 409: the first is on j1
		n(w.jx, newID(), "not mine", workorder.FieldOptions{}),  // 404
		n(w.jx, newID(), "was mine", former),                    // a former holder's note
		n(w.jx, w.storedR, "theirs", workorder.FieldOptions{}),  // 404: someone else's note on a job not ours
		n(w.jx, w.storedR, "theirs", former),                    // replay for a former holder
		n(w.j1, w.storedQ, "crew's", workorder.FieldOptions{}),  // replay of the crew's note
		n(w.j1, newID(), "third", workorder.FieldOptions{ID: w.storedPID}),
		n(newID(), newID(), "no job", workorder.FieldOptions{}),
		n("nope", newID(), "bad job", workorder.FieldOptions{}),
		n(w.off, newID(), "inactive", workorder.FieldOptions{}),
		n(w.j2, ref2, "second", workorder.FieldOptions{}), // replay of the fifth
		n(w.j2, newID(), "fourth", workorder.FieldOptions{}),
	}
}

// outcome is a result with what differs between two worlds taken out.
type outcome struct {
	Code, Body, Author string
	Created, DeviceID  bool
}

func outcomes(t *testing.T, notes []workorder.FieldNote, rs []workorder.FieldNoteResult, id string) []outcome {
	t.Helper()
	var out []outcome
	for i, r := range rs {
		o := outcome{Created: r.Created}
		if r.Err != nil {
			o.Code = hub.ErrorCode(r.Err)
		} else {
			o.Body, o.Author, o.DeviceID = r.Note.Body, r.Note.AuthorName, r.Note.ID == id
			if *r.Note.ClientRef != notes[i].Request.ClientRef {
				t.Fatalf("note %d: client_ref %s, sent %s", i, *r.Note.ClientRef, notes[i].Request.ClientRef)
			}
		}
		out = append(out, o)
	}
	return out
}

// rows are a job's version and its notes and note events, without ids.
func (e *env) rows(job string) string {
	e.t.Helper()
	ctx := context.Background()
	var version int64
	var notes, events []byte
	if err := e.DB.Pool.QueryRow(ctx, `SELECT version,
		(SELECT coalesce(json_agg(json_build_object('author', author_id, 'body', body, 'internal', is_internal, 'device', device_id,
			'ref', client_ref IS NOT NULL) ORDER BY created_at, body, author_id), '[]') FROM work_order_notes WHERE work_order_id = w.id),
		(SELECT coalesce(json_agg(json_build_object('topic', topic, 'entity', entity, 'actor', actor_id,
			'payload', payload - 'id' - 'number' - 'note_id' - 'scheduled_start' - 'scheduled_end' - 'customer_id' - 'crew',
			'crew', jsonb_array_length(payload->'crew')) ORDER BY id), '[]') FROM domain_events WHERE entity_id = w.id AND topic = 'work_order.note_added')
		FROM work_orders w WHERE w.id = $1`, job).Scan(&version, &notes, &events); err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("version %d\nnotes %s\nevents %s", version, notes, events)
}

// TestAddFieldNotes_AsOneByOne: a list of notes added together has the outcomes, rows, versions
// and domain events of the same notes added one by one (AddFieldNoteWith), in every case: new,
// invalid, replays (stored before or earlier in the list), a client_ref of another job, scope,
// former holders, the device's ids taken or not, unknown and inactive jobs.
func TestAddFieldNotes_AsOneByOne(t *testing.T) {
	e := setup(t)
	svc := workorder.NewService(e.DB, t.TempDir(), nil)
	ctx := context.Background()
	dev := newID()

	// Both in one transaction, as the sync applier applies an upload batch (each note of the
	// first world in a savepoint of its own).
	one, oneID := e.noteWorld(svc), newID()
	oneNotes := one.notes(oneID)
	var oneRes []workorder.FieldNoteResult
	if err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		for _, n := range oneNotes {
			note, created, err := svc.AddFieldNoteWith(postgres.WithTx(ctx, tx), e.tech1ID, dev, n.JobID, n.Request, n.Options)
			oneRes = append(oneRes, workorder.FieldNoteResult{Note: note, Created: created, Err: err})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	all, allID := e.noteWorld(svc), newID()
	allNotes := all.notes(allID)
	var allRes []workorder.FieldNoteResult
	if err := e.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		allRes, err = svc.AddFieldNotes(postgres.WithTx(ctx, tx), e.tech1ID, dev, allNotes)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	a, b := outcomes(t, oneNotes, oneRes, oneID), outcomes(t, allNotes, allRes, allID)
	if !slices.Equal(a, b) {
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("note %d: one by one %+v, together %+v", i, a[i], b[i])
			}
		}
		t.FailNow()
	}
	want := []string{"", "invalid", "", "conflict", "", "", "conflict", "not_found", "", "not_found", "", "", "", "not_found", "not_found", "not_found", "", ""}
	for i, o := range a {
		if o.Code != want[i] {
			t.Errorf("note %d: code %q, want %q", i, o.Code, want[i])
		}
	}
	if !a[0].DeviceID || a[4].DeviceID || !a[0].Created || a[5].Created || !a[8].Created {
		t.Fatalf("ids or created: %+v", a)
	}
	for _, pair := range [][2]string{{one.j1, all.j1}, {one.j2, all.j2}, {one.jx, all.jx}, {one.off, all.off}} {
		if x, y := e.rows(pair[0]), e.rows(pair[1]); x != y {
			t.Fatalf("rows differ:\none by one:\n%s\ntogether:\n%s", x, y)
		}
	}
	// The answers are the notes as stored (the field API's body).
	for i, r := range allRes {
		if r.Err != nil {
			continue
		}
		got, _ := json.Marshal(r.Note)
		var stored field.Note
		if err := e.DB.Pool.QueryRow(ctx, `SELECT n.id, n.body, n.author_id, p.display_name, n.is_internal, n.client_ref::text, n.created_at
			FROM work_order_notes n JOIN people p ON p.id = n.author_id WHERE n.id = $1`, r.Note.ID).
			Scan(&stored.ID, &stored.Body, &stored.AuthorID, &stored.AuthorName, &stored.IsInternal, &stored.ClientRef, &stored.CreatedAt); err != nil {
			t.Fatal(err)
		}
		stored.CreatedAt = stored.CreatedAt.UTC()
		if want, _ := json.Marshal(stored); string(got) != string(want) {
			t.Fatalf("note %d: answered %s, stored %s", i, got, want)
		}
	}
}

// TestAddFieldNotes_FallsBackOneByOne: when the statement adding the notes together fails (here a
// trigger refuses one body, as a concurrent writer taking a client_ref would make it fail), each
// note is added on its own: only the refused one is refused.
func TestAddFieldNotes_FallsBackOneByOne(t *testing.T) {
	e := setup(t)
	svc := workorder.NewService(e.DB, t.TempDir(), nil)
	ctx := context.Background()
	if _, err := e.DB.Pool.Exec(ctx, `CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.body = 'boom' THEN RAISE check_violation USING MESSAGE = 'boom', CONSTRAINT = 'no_boom'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_boom BEFORE INSERT ON work_order_notes FOR EACH ROW EXECUTE FUNCTION refuse_boom()`); err != nil {
		t.Fatal(err)
	}
	job := e.newWO(e.tech1ID)
	var v0 int64
	e.DB.Pool.QueryRow(ctx, `SELECT version FROM work_orders WHERE id = $1`, job.ID).Scan(&v0)
	notes := []workorder.FieldNote{
		{JobID: job.ID, Request: field.NoteRequest{ClientRef: newID(), Body: "one"}},
		{JobID: job.ID, Request: field.NoteRequest{ClientRef: newID(), Body: "boom"}},
		{JobID: job.ID, Request: field.NoteRequest{ClientRef: newID(), Body: "two"}},
	}
	rs, err := svc.AddFieldNotes(ctx, e.tech1ID, "", notes)
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Created || !rs[2].Created || hub.ErrorCode(rs[1].Err) != hub.EINVALID {
		t.Fatalf("results: %+v", rs)
	}
	var notesN, events int
	var v int64
	e.DB.Pool.QueryRow(ctx, `SELECT version, (SELECT count(*) FROM work_order_notes WHERE work_order_id = $1),
		(SELECT count(*) FROM domain_events WHERE entity_id = $1 AND topic = 'work_order.note_added') FROM work_orders WHERE id = $1`, job.ID).
		Scan(&v, &notesN, &events)
	if notesN != 2 || events != 2 || v != v0+2 {
		t.Fatalf("%d notes, %d events, version %d → %d", notesN, events, v0, v)
	}
}
