package workorder

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
)

// Technicians' notes: POST /api/v1/field/jobs/{id}/notes adds one, the sync upload applier a run
// of them from a device's upload batch. Both go through AddFieldNotes.

// AddFieldNote adds a technician's note (primary or crew) idempotently by client_ref: the same
// client_ref again returns the stored note with created false.
func (s *Service) AddFieldNote(ctx context.Context, actorID, deviceID, jobID string, req field.NoteRequest) (*field.Note, bool, error) {
	return s.AddFieldNoteWith(ctx, actorID, deviceID, jobID, req, FieldOptions{})
}

// AddFieldNoteWith is AddFieldNote with the applier's options (ID, FormerHolder).
func (s *Service) AddFieldNoteWith(ctx context.Context, actorID, deviceID, jobID string, req field.NoteRequest, opt FieldOptions) (*field.Note, bool, error) {
	rs, err := s.AddFieldNotes(ctx, actorID, deviceID, []FieldNote{{JobID: jobID, Request: req, Options: opt}})
	if err != nil {
		return nil, false, err
	}
	return rs[0].Note, rs[0].Created, rs[0].Err
}

// FieldNote is one note of AddFieldNotes.
type FieldNote struct {
	JobID   string
	Request field.NoteRequest
	Options FieldOptions
}

// FieldNoteResult is what became of one note of AddFieldNotes: the stored note and whether this
// call created it, or Err, why the note was refused (a *hub.Error, as AddFieldNoteWith returns).
type FieldNoteResult struct {
	Note    *field.Note
	Created bool
	Err     error
}

// AddFieldNotes adds notes of technician actorID (from device deviceID) to their jobs in one
// transaction (a savepoint of ctx's, postgres.WithTx), each exactly as AddFieldNoteWith would
// one after the other: replays by client_ref (also of a note earlier in the list), scope, the
// device's note ids, a version bump and a work_order.note_added event per note. It takes three
// round trips to the database whatever the number of notes (and two for its savepoint): the
// stored notes and the actor's roles; the lock of the jobs that get a note, with the stored notes
// read again under it; one INSERT of the notes, one UPDATE of the versions, one INSERT of the
// events and the notes read back. When that fails (a concurrent writer took a client_ref
// meanwhile) the notes are added one by one, each in its own savepoint. The error is a failure of
// the database; a note refused is answered in its result.
func (s *Service) AddFieldNotes(ctx context.Context, actorID, deviceID string, notes []FieldNote) ([]FieldNoteResult, error) {
	out := make([]FieldNoteResult, len(notes))
	var todo []int
	for i, n := range notes {
		switch {
		case n.Request.Validate() != nil:
			out[i].Err = fieldInvalid(n.Request.Validate())
		case deviceID != "" && !postgres.ValidUUID(deviceID):
			out[i].Err = hub.Invalid(map[string]string{"device_id": "must be a UUID"})
		case !postgres.ValidUUID(n.JobID) || !postgres.ValidUUID(actorID):
			out[i].Err = errJobNotFound
		default:
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	if _, in := postgres.TxFrom(ctx); !in && len(todo) > 1 {
		err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			out, err = s.AddFieldNotes(postgres.WithTx(ctx, tx), actorID, deviceID, notes)
			return err
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error { return s.addNotes(ctx, tx, actorID, deviceID, notes, todo, out) })
	switch {
	case err == nil:
		return out, nil
	case len(todo) == 1:
		if code := hub.ErrorCode(err); code == hub.EINTERNAL {
			return nil, err
		}
		out[todo[0]] = FieldNoteResult{Err: err}
		return out, nil
	}
	if s.Logger != nil {
		s.Logger.Info("notes added one by one", "notes", len(todo), "error", err)
	}
	for _, i := range todo {
		r, err := s.AddFieldNotes(ctx, actorID, deviceID, notes[i:i+1])
		if err != nil {
			return nil, err
		}
		out[i] = r[0]
	}
	return out, nil
}

// storedNote is a note found under a client_ref, or made earlier in the same call (note nil
// until it is read back; made is its index in the notes inserted).
type storedNote struct {
	note   *field.Note
	job    string
	author *string
	made   int
}

// replayOf is note i replaying the made-th note inserted by the same call.
type replayOf struct{ i, made int }

// noteState is what the notes of an AddFieldNotes call find in the database.
type noteState struct {
	stored map[string]storedNote // client_ref (lower case) → note
	roles  map[string]Role       // job id → the actor's role (RoleNone when absent)
}

// queueNoteState adds to b the reads of the notes stored under refs and of personID's roles on jobs.
func queueNoteState(b *pgx.Batch, st *noteState, personID string, refs, jobs []string) {
	st.stored, st.roles = map[string]storedNote{}, map[string]Role{}
	b.Queue(`SELECT `+noteCols+`, n.work_order_id::text, n.author_id::text`+noteFrom+` WHERE n.client_ref = ANY($1::uuid[])`, refs).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var r storedNote
				r.note = &field.Note{}
				if err := scanNote(rows, r.note, &r.job, &r.author); err != nil {
					return err
				}
				if r.note.ClientRef != nil {
					st.stored[*r.note.ClientRef] = r
				}
			}
			return rows.Err()
		})
	b.Queue(`SELECT w.id::text, `+roleCols+` FROM work_orders w WHERE w.id = ANY($1::uuid[]) AND w.is_active`, jobs, personID).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var primary, crew bool
				if err := rows.Scan(&id, &primary, &crew); err != nil {
					return err
				}
				st.roles[id] = roleOf(primary, crew)
			}
			return rows.Err()
		})
}

// canonical is a UUID as PostgreSQL prints it.
func canonical(id string) string {
	u, err := uuid.Parse(id)
	if err != nil {
		return strings.ToLower(id)
	}
	return u.String()
}

// addNotes adds notes[todo] in tx and fills out (see AddFieldNotes).
func (s *Service) addNotes(ctx context.Context, tx pgx.Tx, actorID, deviceID string, notes []FieldNote, todo []int, out []FieldNoteResult) error {
	var refs, jobs []string
	seen := map[string]bool{}
	for _, i := range todo {
		n := notes[i]
		refs = append(refs, canonical(n.Request.ClientRef))
		if j := canonical(n.JobID); !seen[j] {
			seen[j] = true
			jobs = append(jobs, j)
		}
	}
	var st noteState
	b := &pgx.Batch{}
	queueNoteState(b, &st, actorID, refs, jobs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	// Lock the jobs that get a note (in id order), then look again: a request with the same
	// client_ref may have committed while we waited for a lock.
	var lock []string
	seen = map[string]bool{}
	for _, i := range todo {
		n := notes[i]
		job := canonical(n.JobID)
		if _, ok := st.stored[canonical(n.Request.ClientRef)]; ok || seen[job] || (st.roles[job] == RoleNone && !n.Options.FormerHolder) {
			continue
		}
		seen[job] = true
		lock = append(lock, job)
	}
	locks := map[string]*locked{}
	used := map[string]bool{}
	if len(lock) > 0 {
		b := &pgx.Batch{}
		b.Queue(`SELECT `+lockedCols+` FROM work_orders WHERE id = ANY($1::uuid[]) AND is_active ORDER BY id FOR UPDATE`, lock).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					l := &locked{Crew: []string{}}
					if err := l.scan(rows); err != nil {
						return err
					}
					locks[l.ID] = l
				}
				return rows.Err()
			})
		b.Queue(helpersSQL, lock).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var job, person string
				if err := rows.Scan(&job, &person); err != nil {
					return err
				}
				if l := locks[job]; l != nil {
					l.Crew = append(l.Crew, person)
				}
			}
			return rows.Err()
		})
		queueNoteState(b, &st, actorID, refs, jobs)
		var given []string
		for _, i := range todo {
			if id := notes[i].Options.ID; id != "" && postgres.ValidUUID(id) {
				given = append(given, canonical(id))
			}
		}
		b.Queue(`SELECT id::text FROM work_order_notes WHERE id = ANY($1::uuid[])`, given).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				used[id] = true
			}
			return rows.Err()
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}

	// Each note in order, as AddFieldNoteWith decides it.
	var (
		ins                       []int // indexes into notes of the notes to insert
		again                     []replayOf
		ids, wos, bodies, insRefs []string
		payloads                  []EventPayload
		bumps                     = map[string]int{}
		bumped                    []string
		author                    = canonical(actorID)
	)
	for _, i := range todo {
		n := notes[i]
		job, ref := canonical(n.JobID), canonical(n.Request.ClientRef)
		if r, ok := st.stored[ref]; ok {
			if r.job != n.JobID {
				out[i].Err = &hub.Error{Code: hub.ECONFLICT, Message: "client_ref was already used for another job", Fields: map[string]string{"client_ref": "already used"}}
				continue
			}
			if (r.author == nil || *r.author != actorID) && !n.Options.FormerHolder && st.roles[job] == RoleNone {
				out[i].Err = errJobNotFound
				continue
			}
			if r.note == nil { // made above: answered once read back
				again = append(again, replayOf{i, r.made})
			}
			out[i].Note = r.note
			continue
		}
		if st.roles[job] == RoleNone && !n.Options.FormerHolder {
			out[i].Err = errJobNotFound
			continue
		}
		l := locks[job]
		if l == nil {
			out[i].Err = errJobNotFound
			continue
		}
		noteID := postgres.NewID()
		if id := n.Options.ID; id != "" && postgres.ValidUUID(id) && !used[canonical(id)] {
			noteID = id
		}
		used[canonical(noteID)] = true
		l.Version++
		if bumps[job] == 0 {
			bumped = append(bumped, job)
		}
		bumps[job]++
		p := l.payload()
		p.NoteID, p.DeviceID = noteID, deviceID
		payloads = append(payloads, p)
		st.stored[ref] = storedNote{job: l.ID, author: &author, made: len(ins)}
		ins = append(ins, i)
		ids, wos, bodies, insRefs = append(ids, canonical(noteID)), append(wos, job), append(bodies, n.Request.Body), append(insRefs, ref)
	}
	if len(ins) == 0 {
		return nil
	}

	b = &pgx.Batch{}
	b.Queue(`INSERT INTO work_order_notes (id, work_order_id, author_id, body, is_internal, client_ref, device_id)
		SELECT i, w, $3::uuid, t, true, r, $6::uuid FROM unnest($1::uuid[], $2::uuid[], $4::text[], $5::uuid[]) WITH ORDINALITY AS u(i, w, t, r, n)
		ORDER BY n`, ids, wos, actorID, bodies, insRefs, nilIfEmpty(&deviceID))
	counts := make([]int32, len(bumped))
	for k, job := range bumped {
		counts[k] = int32(bumps[job])
	}
	b.Queue(`UPDATE work_orders w SET version = w.version + u.n, updated_at = now() FROM unnest($1::uuid[], $2::int[]) AS u(id, n) WHERE w.id = u.id`,
		bumped, counts)
	if err := queueEvents(b, TopicNoteAdded, actorID, payloads); err != nil {
		return err
	}
	execs := b.Len()
	b.Queue(`SELECT `+noteCols+noteFrom+` WHERE n.id = ANY($1::uuid[])`, ids)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for k := range execs {
		if _, err := br.Exec(); err != nil {
			if k == 0 {
				return postgres.Translate(err) // the notes' INSERT, as AddFieldNoteWith translates it
			}
			return err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	made := map[string]*field.Note{}
	for rows.Next() {
		n := &field.Note{}
		if err := scanNote(rows, n); err != nil {
			rows.Close()
			return err
		}
		made[n.ID] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	for k, i := range ins {
		n := made[ids[k]]
		if n == nil {
			return hub.Errorf(hub.EINTERNAL, "note %s was not stored", ids[k])
		}
		out[i] = FieldNoteResult{Note: n, Created: true}
	}
	for _, r := range again {
		n := *out[ins[r.made]].Note
		out[r.i].Note = &n
	}
	return nil
}
