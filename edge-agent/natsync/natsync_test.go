package natsync_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/field"
	"dotmac.dev/field/sync/fieldexec"
)

func tr(event string) field.TransitionRequest {
	now := time.Now().UTC()
	return field.TransitionRequest{Event: fieldexec.Event(event), ClientEventID: uuid.NewString(), OccurredAt: &now}
}

var (
	refusedContent = photo("refused")
	refusedSum     = func() string { h := sha256.Sum256(refusedContent); return hex.EncodeToString(h[:]) }()
)

func photo(seed string) []byte {
	return append([]byte("\xff\xd8\xff\xe0"+seed), make([]byte, 64)...)
}

func (a *agentHarness) waitJob(id, status string) field.Job {
	a.t.Helper()
	var j field.Job
	checkFor(a.t, 15*time.Second, 20*time.Millisecond, func() error {
		var err error
		j, err = a.db.FindJob(context.Background(), a.hub.Tech, id)
		if err != nil {
			return err
		}
		if status != "" && string(j.Status) != status {
			return fmt.Errorf("status %s, want %s", j.Status, status)
		}
		return nil
	})
	return j
}

func (a *agentHarness) waitBootstrapped() {
	a.t.Helper()
	checkFor(a.t, 15*time.Second, 20*time.Millisecond, func() error {
		if ok, _ := a.db.Bootstrapped(context.Background()); !ok {
			return errors.New("bootstrapping")
		}
		return nil
	})
}

func (a *agentHarness) waitSettled() {
	a.t.Helper()
	checkFor(a.t, 20*time.Second, 25*time.Millisecond, func() error {
		if p, _ := a.status(); p != 0 {
			return fmt.Errorf("%d uploads pending", p)
		}
		return nil
	})
}

// TestSync_OfflineDayThenConverge: the link to NATS is cut at the TCP level; every action commits
// locally and answers at once; when the link returns, everything reaches the hub in order,
// evidence first, exactly once, and the checksums of both sides agree.
func TestSync_OfflineDayThenConverge(t *testing.T) {
	h := newFakeHub(t)
	a := startAgent(t, h)
	ctx := context.Background()
	wo := h.SeedJob()
	a.waitJob(wo, "dispatched")
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !a.client.SyncState().Online {
			return errors.New("offline")
		}
		return nil
	})

	a.proxy.Cut()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if a.client.SyncState().Online {
			return errors.New("still online")
		}
		return nil
	})
	start := time.Now()
	var refs []string
	for _, ev := range []string{"en_route", "arrived", "start"} {
		r := tr(ev)
		if _, err := a.db.Transition(ctx, h.Tech, wo, r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r.ClientEventID)
	}
	for i := range 5 {
		r := field.NoteRequest{ClientRef: uuid.NewString(), Body: fmt.Sprintf("note %d", i)}
		if _, _, err := a.db.AddNote(ctx, h.Tech, "Tech One", wo, r); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r.ClientRef)
	}
	pref := uuid.NewString()
	if _, _, err := a.db.AddAttachment(ctx, h.Tech, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo",
		WorkOrderID: wo, ClientRef: pref}, FileName: "p.jpg", Content: photo("x")}); err != nil {
		t.Fatal(err)
	}
	refs = append(refs, pref)
	done := tr("complete")
	done.Payload.SignatureUnavailableReason = "customer away"
	res, err := a.db.Transition(ctx, h.Tech, wo, done)
	if err != nil || res.Job.Status != "completed" {
		t.Fatalf("complete offline: %v %v", err, res.Job.Status)
	}
	refs = append(refs, done.ClientEventID)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("offline writes took %s", d)
	}
	if p, _ := a.status(); p != len(refs) {
		t.Fatalf("pending %d, want %d", p, len(refs))
	}

	a.proxy.Restore()
	a.waitSettled()
	j := a.waitJob(wo, "completed")
	if len(j.Notes) != 5 || len(j.Attachments) != 1 || len(j.Events) != 4 {
		t.Fatalf("after sync: %d notes %d attachments %d events", len(j.Notes), len(j.Attachments), len(j.Events))
	}
	h.Mu.Lock()
	applied := append([]string(nil), h.Applied...)
	var changes []string
	blobAt, attAt := -1, -1
	for i, o := range h.Order {
		if strings.HasPrefix(o, "blob:") {
			blobAt = i
		}
		if o == "change:"+pref {
			attAt = i
		}
		if strings.HasPrefix(o, "change:") {
			changes = append(changes, o)
		}
	}
	h.Mu.Unlock()
	if fmt.Sprint(applied) != fmt.Sprint(refs) {
		t.Fatalf("hub applied\n%v\nwant (in order)\n%v", applied, refs)
	}
	if blobAt < 0 || attAt < blobAt {
		t.Fatalf("the attachment's content was not uploaded before its change: %v", h.Order)
	}
	// Same checksums on both sides.
	a.checksumsEqual()
}

// TestSync_ParkOn4xxRetryOn5xx: content the hub refuses (4xx) parks that upload with its data
// kept and the queue moves on; server errors (5xx) are retried until they pass; a mutation the
// hub rejects is parked from its upload_result.
func TestSync_ParkOn4xxRetryOn5xx(t *testing.T) {
	h := newFakeHub(t)
	ctx := context.Background()
	fails := 0
	h.BlobFail = func(sum string) int {
		if strings.HasPrefix(sum, refusedSum) {
			return 415
		}
		if fails < 3 {
			fails++
			return 503
		}
		return 0
	}
	a := startAgent(t, h)
	wo := h.SeedJob()
	a.waitJob(wo, "dispatched")

	ok := uuid.NewString()
	if _, _, err := a.db.AddAttachment(ctx, h.Tech, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo",
		WorkOrderID: wo, ClientRef: ok}, FileName: "ok.jpg", Content: photo("ok")}); err != nil {
		t.Fatal(err)
	}
	bad := uuid.NewString()
	if _, _, err := a.db.AddAttachment(ctx, h.Tech, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{Kind: "photo",
		WorkOrderID: wo, ClientRef: bad}, FileName: "bad.jpg", Content: refusedContent}); err != nil {
		t.Fatal(err)
	}
	note := field.NoteRequest{ClientRef: uuid.NewString(), Body: "after the refused one"}
	if _, _, err := a.db.AddNote(ctx, h.Tech, "Tech", wo, note); err != nil {
		t.Fatal(err)
	}
	a.waitSettled()
	if p, c := a.status(); p != 0 || c != 1 {
		t.Fatalf("pending %d conflicts %d", p, c)
	}
	h.Mu.Lock()
	applied := fmt.Sprint(h.Applied)
	h.Mu.Unlock()
	if applied != fmt.Sprint([]string{ok, note.ClientRef}) || fails != 3 {
		t.Fatalf("applied %v after %d server errors", applied, fails)
	}
	// The parked photo is still on the tablet.
	j, _ := a.db.FindJob(ctx, h.Tech, wo)
	if len(j.Attachments) != 2 {
		t.Fatalf("captured photo lost: %d attachments", len(j.Attachments))
	}

	// A mutation the hub rejects is parked too, with the job back to the hub's status.
	h.Mu.Lock()
	h.RejectIf = func(c change.Change) string {
		if c.Action == "transition" {
			return "the office canceled this job"
		}
		return ""
	}
	h.Mu.Unlock()
	start := tr("start")
	if _, err := a.db.Transition(ctx, h.Tech, wo, start); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, c := a.status(); c != 2 {
			return fmt.Errorf("%d conflicts", c)
		}
		return nil
	})
	a.waitJob(wo, "dispatched")
	cs, _ := a.db.Conflicts(ctx)
	var kept map[string]any
	_ = json.Unmarshal(cs[0].DeviceValue, &kept)
	if cs[0].Status != "open" || kept["client_event_id"] != start.ClientEventID || !strings.Contains(cs[0].Message, "canceled") {
		t.Fatalf("conflict %+v", cs[0])
	}
}

// TestSync_ResetKeepsPendingWork: while the device is offline the feed drops past its cursor;
// on reconnect it re-bootstraps from the snapshot and replays its pending work on top.
func TestSync_ResetKeepsPendingWork(t *testing.T) {
	h := newFakeHub(t)
	a := startAgent(t, h)
	ctx := context.Background()
	wo := h.SeedJob()
	a.waitJob(wo, "dispatched")
	a.proxy.Cut()
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if a.client.SyncState().Online {
			return errors.New("online")
		}
		return nil
	})
	note := field.NoteRequest{ClientRef: uuid.NewString(), Body: "written offline"}
	if _, _, err := a.db.AddNote(ctx, h.Tech, "Tech", wo, note); err != nil {
		t.Fatal(err)
	}
	start := tr("start")
	if _, err := a.db.Transition(ctx, h.Tech, wo, start); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the office edits the job many times and retention drops the old batches.
	var other string
	for i := range 5 {
		other = h.SeedJob()
		h.Mu.Lock()
		d := h.WOData("dispatched", int64(2+i))
		d["title"] = fmt.Sprintf("edit %d", i)
		c := h.Record("work_order", wo, int64(2+i), d)
		h.Mu.Unlock()
		h.Publish(c)
	}
	head, _ := h.Down.Head(ctx)
	if err := h.Down.Trim(ctx, head); err != nil {
		t.Fatal(err)
	}
	a.proxy.Restore()
	a.waitSettled()
	checkFor(t, 15*time.Second, 25*time.Millisecond, func() error {
		j, err := a.db.FindJob(ctx, h.Tech, wo)
		if err != nil {
			return err
		}
		if j.Title != "edit 4" || j.Status != "in_progress" || len(j.Notes) != 1 {
			return fmt.Errorf("job %q %s notes %d", j.Title, j.Status, len(j.Notes))
		}
		if _, err := a.db.FindJob(ctx, h.Tech, other); err != nil {
			return err
		}
		return nil
	})
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if h.Snapshots < 1 {
		t.Fatal("no snapshot was taken")
	}
	if !contains(h.Applied, note.ClientRef) || !contains(h.Applied, start.ClientEventID) {
		t.Fatalf("pending work lost in the reset: applied %v", h.Applied)
	}
	for ref, n := range h.Delivered {
		if n > 1 && !contains([]string{note.ClientRef, start.ClientEventID}, ref) {
			t.Errorf("%s delivered %d times", ref, n)
		}
	}
}

// TestSync_ChecksumRepair: the hub's rows drift from the replica without a feed message (a
// lost change); a resync control message repairs exactly the differing rows.
func TestSync_ChecksumRepair(t *testing.T) {
	h := newFakeHub(t)
	a := startAgent(t, h)
	ctx := context.Background()
	jobs := seedJobs(h, 20)
	a.waitJob(jobs[19], "")
	a.waitBootstrapped()
	h.Mu.Lock()
	d := h.WOData("scheduled", 9)
	d["title"] = "silently changed"
	h.Record("work_order", jobs[3], 9, d)
	delete(h.Rows["work_orders"], jobs[5])
	delete(h.Rows["work_order_assignments"], jobs[5]+":"+h.Tech)
	h.Mu.Unlock()
	if err := h.Ctl.Publish("dmf.ctl."+h.Device, []byte(`{"type":"resync"}`)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 15*time.Second, 25*time.Millisecond, func() error {
		j, err := a.db.FindJob(ctx, h.Tech, jobs[3])
		if err != nil {
			return err
		}
		if j.Title != "silently changed" {
			return fmt.Errorf("title %q", j.Title)
		}
		if _, err := a.db.FindJob(ctx, h.Tech, jobs[5]); agent.ErrorCode(err) != agent.ENOTFOUND {
			return fmt.Errorf("dropped job still there: %v", err)
		}
		return nil
	})
	if j, _ := a.db.FindJob(ctx, h.Tech, jobs[4]); j.Title != "Install" {
		t.Fatalf("untouched job changed: %q", j.Title)
	}
}

// TestSync_RevocationPurges: a revoke control message purges the replica and stops the agent.
func TestSync_RevocationPurges(t *testing.T) {
	h := newFakeHub(t)
	a := startAgent(t, h)
	wo := h.SeedJob()
	a.waitJob(wo, "dispatched")
	// A snapshot file being downloaded holds the scope too.
	if err := os.WriteFile(filepath.Join(a.dir, agent.BootstrapDir, "downloading.sqlite"), []byte("scope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Ctl.Publish("dmf.ctl."+h.Device, []byte(`{"type":"revoke","reason":"lost tablet"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if !errors.Is(err, agent.ErrRevoked) {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop within 10 s of revocation")
	}
	a.cancel = nil
	if _, err := os.Stat(filepath.Join(a.dir, "replica.db")); !os.IsNotExist(err) {
		t.Fatalf("replica not purged: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a.dir, agent.BootstrapDir)); !os.IsNotExist(err) {
		t.Fatalf("bootstrap directory not purged: %v", err)
	}
}

// TestSync_AuthFailurePurges: the hub refuses the device (revoked while offline); at the next
// contact the agent confirms with the hub and purges.
func TestSync_AuthFailurePurges(t *testing.T) {
	h := newFakeHub(t)
	a := startAgent(t, h)
	wo := h.SeedJob()
	a.waitJob(wo, "dispatched")
	a.waitBootstrapped()
	h.Mu.Lock()
	h.Revoked = true
	h.Mu.Unlock()
	// The next upload meets a refusal (the blob endpoint answers 401).
	if _, _, err := a.db.AddAttachment(context.Background(), h.Tech, sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{
		Kind: "photo", WorkOrderID: wo, ClientRef: uuid.NewString()}, FileName: "p.jpg", Content: photo("r")}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if !errors.Is(err, agent.ErrRevoked) {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop")
	}
	a.cancel = nil
	if _, err := os.Stat(filepath.Join(a.dir, "replica.db")); !os.IsNotExist(err) {
		t.Fatalf("replica not purged: %v", err)
	}
}

// seedJobs seeds n jobs on the hub and returns their ids.
func seedJobs(h *fakeHub, n int) []string {
	var jobs []string
	for range n {
		jobs = append(jobs, h.SeedJob())
	}
	return jobs
}

// bootstrapFiles lists what is left in the agent's bootstrap directory.
func (a *agentHarness) bootstrapFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(a.dir, agent.BootstrapDir))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestSync_BootstrapFromFile: the agent bootstraps from the hub's snapshot file (one request for
// the file, no page), its checksums equal the hub's, and no file is left behind.
func TestSync_BootstrapFromFile(t *testing.T) {
	h := newFakeHub(t)
	jobs := seedJobs(h, 30)
	a := startAgent(t, h)
	a.waitBootstrapped()
	for _, wo := range jobs {
		a.waitJob(wo, "dispatched")
	}
	h.Mu.Lock()
	ranges, pages, snaps := h.FileRanges, h.PageRequests, h.Snapshots
	h.Mu.Unlock()
	if len(ranges) != 1 || ranges[0] != "" || pages != 0 || snaps != 1 {
		t.Fatalf("file requests %q, page requests %d, snapshots %d", ranges, pages, snaps)
	}
	if left := a.bootstrapFiles(); len(left) != 0 {
		t.Fatalf("left in the bootstrap directory: %v", left)
	}
	a.checksumsEqual()
}

func (a *agentHarness) checksumsEqual() {
	a.t.Helper()
	checkFor(a.t, 10*time.Second, 50*time.Millisecond, func() error {
		local, err := a.db.Checksums(context.Background())
		if err != nil {
			return err
		}
		a.hub.Mu.Lock()
		hub := a.hub.ChecksumsLocked()
		a.hub.Mu.Unlock()
		for i := range local {
			if local[i].Digest() != hub[i].Digest() {
				return fmt.Errorf("table %s differs", local[i].Name)
			}
		}
		return nil
	})
}

// TestSync_BootstrapFileResumes: the agent stops half-way through the download (the link stalls,
// the agent is stopped); the next run resumes after the bytes it kept (Range), verifies the whole
// and applies it.
func TestSync_BootstrapFileResumes(t *testing.T) {
	h := newFakeHub(t)
	jobs := seedJobs(h, 30)
	h.HoldFileAt = 5000
	a := startAgent(t, h)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		h.Mu.Lock()
		defer h.Mu.Unlock()
		if h.Held == 0 {
			return errors.New("the download has not started")
		}
		return nil
	})
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		left := a.bootstrapFiles()
		if len(left) != 1 {
			return fmt.Errorf("bootstrap directory %v", left)
		}
		if fi, err := os.Stat(filepath.Join(a.dir, agent.BootstrapDir, left[0])); err != nil || fi.Size() != 5000 {
			return fmt.Errorf("partial file: %v %v", fi, err)
		}
		return nil
	})
	a.stop()
	h.Mu.Lock()
	h.HoldFileAt = 0
	h.Mu.Unlock()
	a.start()
	a.waitBootstrapped()
	a.waitJob(jobs[29], "dispatched")
	h.Mu.Lock()
	ranges, snaps := h.FileRanges, h.Snapshots
	h.Mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=5000-" || snaps != 1 {
		t.Fatalf("file requests %q, snapshots %d: want a whole one, then a resume after 5000 bytes, of one snapshot", ranges, snaps)
	}
	if left := a.bootstrapFiles(); len(left) != 0 {
		t.Fatalf("left in the bootstrap directory: %v", left)
	}
	a.checksumsEqual()
}

// TestSync_BootstrapFileExpired: the hub no longer holds the file a download was resuming; the
// agent asks for a new snapshot and bootstraps from it.
func TestSync_BootstrapFileExpired(t *testing.T) {
	h := newFakeHub(t)
	wo := h.SeedJob()
	h.HoldFileAt = 5000
	a := startAgent(t, h)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		h.Mu.Lock()
		defer h.Mu.Unlock()
		if h.Held == 0 {
			return errors.New("the download has not started")
		}
		return nil
	})
	a.stop()
	h.Mu.Lock()
	h.HoldFileAt = 0
	h.ExpireSnapshotFiles()
	h.Mu.Unlock()
	a.start()
	a.waitBootstrapped()
	a.waitJob(wo, "dispatched")
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if len(h.FileRanges) != 3 || h.FileRanges[1] != "bytes=5000-" || h.FileRanges[2] != "" || h.Snapshots != 2 || h.PageRequests != 0 {
		t.Fatalf("file requests %q, snapshots %d, pages %d", h.FileRanges, h.Snapshots, h.PageRequests)
	}
}

// TestSync_BootstrapFileCorrupt: a file that does not match its SHA-256 is never applied; the next
// attempt takes a new snapshot.
func TestSync_BootstrapFileCorrupt(t *testing.T) {
	h := newFakeHub(t)
	wo := h.SeedJob()
	h.CorruptFiles = 1
	a := startAgent(t, h)
	a.waitBootstrapped()
	a.waitJob(wo, "dispatched")
	h.Mu.Lock()
	defer h.Mu.Unlock()
	if len(h.FileRanges) != 2 || h.Snapshots != 2 {
		t.Fatalf("file requests %q, snapshots %d: want the corrupt one dropped and a new one", h.FileRanges, h.Snapshots)
	}
}

// TestSync_BootstrapFallsBackToPages: a hub without the snapshot file (404), or an agent without
// a data directory, bootstraps from the paged JSON snapshot as before.
func TestSync_BootstrapFallsBackToPages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noFile bool
		noDir  bool
	}{{"hub without the file", true, false}, {"agent without a data directory", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t)
			wo := h.SeedJob()
			h.NoSnapshotFile = tc.noFile
			a := startAgentWith(t, h, func(c *natsync.Client) {
				if tc.noDir {
					c.Dir = ""
				}
			})
			a.waitBootstrapped()
			a.waitJob(wo, "dispatched")
			h.Mu.Lock()
			defer h.Mu.Unlock()
			if h.PageRequests != 2 || len(h.FileRanges) != 0 {
				t.Fatalf("page requests %d, file requests %q", h.PageRequests, h.FileRanges)
			}
		})
	}
}
