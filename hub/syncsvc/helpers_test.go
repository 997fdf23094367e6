package syncsvc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/hub/hubtest"
	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/hlc"
	"dotmac.dev/field/sync/jetstream"
)

// harness is a running hub with the sync area and helpers to act as devices and as the office.
type harness struct {
	t     *testing.T
	env   *hubtest.Env
	svc   *syncsvc.Service
	admin string
	techs map[string]string // email → person id
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	env := hubtest.New(t, hubtest.Options{Demo: true})
	h := &harness{t: t, env: env, techs: map[string]string{}}
	for _, a := range env.App.Server.Areas {
		if sa, ok := a.(*syncsvc.Area); ok {
			h.svc = sa.Svc
		}
	}
	if h.svc == nil {
		t.Fatal("the sync area is not wired")
	}
	h.admin = env.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	for _, e := range []string{"tech1@example.com", "tech2@example.com", "tech3@example.com"} {
		var id string
		if err := env.DB.Pool.QueryRow(context.Background(), `SELECT id FROM people WHERE email = $1`, e).Scan(&id); err != nil {
			t.Fatal(err)
		}
		h.techs[e] = id
	}
	return h
}

func (h *harness) exec(sql string, args ...any) {
	h.t.Helper()
	if _, err := h.env.DB.Pool.Exec(context.Background(), sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// createWorkOrder makes a scheduled job for tech at a site in Bozeman and emits its domain event.
func (h *harness) createWorkOrder(tech string) string {
	h.t.Helper()
	ctx := context.Background()
	var cust, site, wo string
	n := uuid.NewString()[:8]
	db := h.env.DB.Pool
	if err := db.QueryRow(ctx, `INSERT INTO customers (number, name, email, phone, address, monthly_rate)
		VALUES ($1, 'Customer '||$1, $1||'@example.com', '+1 406 555 0100', '1 Main St, Bozeman', 79.00) RETURNING id`, "CUS-"+n).Scan(&cust); err != nil {
		h.t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO sites (customer_id, address, geom) VALUES ($1, '1 Main St, Bozeman', ST_SetSRID(ST_MakePoint(-111.0429, 45.677), 4326)) RETURNING id`,
		cust).Scan(&site); err != nil {
		h.t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO work_orders (number, title, status, work_type, customer_id, site_id, assigned_to, scheduled_start, scheduled_end)
		VALUES ($1, 'Install fiber', 'scheduled', 'install', $2, $3, $4, now() + interval '1 hour', now() + interval '3 hours') RETURNING id`,
		"WO-"+n, cust, site, tech).Scan(&wo); err != nil {
		h.t.Fatal(err)
	}
	h.exec(`INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary) VALUES ($1, $2, 'primary', true)`, wo, tech)
	h.event("work_order.created", "work_order", wo)
	return wo
}

func (h *harness) event(topic, entity, id string) {
	h.exec(`INSERT INTO domain_events (topic, entity, entity_id, payload) VALUES ($1, $2, $3::uuid, jsonb_build_object('work_order_id', $3::uuid))`, topic, entity, id)
}

// reassign moves a job to another primary technician, as the office does.
func (h *harness) reassign(wo, to string) {
	h.exec(`DELETE FROM work_order_assignments WHERE work_order_id = $1`, wo)
	h.exec(`INSERT INTO work_order_assignments (work_order_id, person_id, role, is_primary) VALUES ($1, $2, 'primary', true)`, wo, to)
	h.exec(`UPDATE work_orders SET assigned_to = $2, version = version + 1, updated_at = now() WHERE id = $1`, wo, to)
	h.event("work_order.assigned", "work_order", wo)
}

// device is an enrolled tablet talking to the hub as the edge agent would.
type device struct {
	h      *harness
	enr    syncsvc.Enrollment
	nc     *nats.Conn
	js     njs.JetStream
	clock  *hlc.Clock
	mu     sync.Mutex
	ctl    []syncsvc.Control
	closed chan struct{}
	feed   *feed
}

func (h *harness) enroll(tech, name string) *device {
	h.t.Helper()
	r := h.env.Do("POST", "/api/v1/devices", h.admin, map[string]string{"technician_id": tech, "name": name})
	if r.Status != http.StatusCreated {
		h.t.Fatalf("create device: %d %s", r.Status, r.Body)
	}
	var nd syncsvc.NewDevice
	r.JSON(h.t, &nd)
	r = h.env.Do("POST", "/api/v1/devices/enroll", "", map[string]string{"code": nd.EnrollmentCode})
	if r.Status != http.StatusOK {
		h.t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	d := &device{h: h, closed: make(chan struct{})}
	r.JSON(h.t, &d.enr)
	d.clock = hlc.New(d.enr.DeviceID)
	d.connect()
	return d
}

func (d *device) connect() {
	d.h.t.Helper()
	nc, err := nats.Connect(d.enr.NATSURL, nats.UserInfo(d.enr.NATSUser, d.enr.NATSPassword),
		nats.CustomInboxPrefix(d.enr.InboxPrefix), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
		nats.ClosedHandler(func(*nats.Conn) { close(d.closed) }))
	if err != nil {
		d.h.t.Fatalf("device connect: %v", err)
	}
	d.h.t.Cleanup(nc.Close)
	d.nc = nc
	d.js, _ = njs.New(nc)
	if _, err := nc.Subscribe(d.enr.ControlSubject, func(m *nats.Msg) {
		var c syncsvc.Control
		if json.Unmarshal(m.Data, &c) == nil {
			d.mu.Lock()
			d.ctl = append(d.ctl, c)
			d.mu.Unlock()
		}
	}); err != nil {
		d.h.t.Fatal(err)
	}
	nc.Flush()
}

func fastCfg(c jetstream.Config) jetstream.Config {
	c.PollWait = 200 * time.Millisecond
	return c
}

// feed collects the device's downstream batches.
type feed struct {
	mu      sync.Mutex
	batches []change.Batch
	cancel  context.CancelFunc
	done    chan struct{}
}

func (d *device) consume() *feed {
	d.h.t.Helper()
	if d.feed != nil {
		return d.feed
	}
	ctx, cancel := context.WithCancel(context.Background())
	down, err := jetstream.Bind(ctx, d.js, fastCfg(jetstream.Down()))
	if err != nil {
		d.h.t.Fatal(err)
	}
	f := &feed{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		down.Consume(ctx, d.enr.TechnicianID, change.ConsumeOptions{Durable: d.enr.DownDurable, RetryDelay: 50 * time.Millisecond},
			func(ctx context.Context, b change.Batch) error {
				f.mu.Lock()
				f.batches = append(f.batches, b)
				f.mu.Unlock()
				return nil
			})
	}()
	d.h.t.Cleanup(func() { cancel(); <-f.done })
	d.feed = f
	return f
}

// latest returns the last change seen for entity id.
func (f *feed) latest(entity, id string) (change.Change, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out change.Change
	ok := false
	for _, b := range f.batches {
		for _, c := range b.Changes {
			if c.Entity == entity && c.EntityID == id {
				out, ok = c, true
			}
		}
	}
	return out, ok
}

// upload publishes a batch of mutations on the device's own upload subject.
func (d *device) upload(changes ...change.Change) change.Batch {
	d.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up, err := jetstream.Bind(ctx, d.js, jetstream.Up())
	if err != nil {
		d.h.t.Fatal(err)
	}
	b := change.Batch{ID: uuid.NewString(), Changes: changes}
	if _, err := up.Publish(ctx, d.enr.DeviceID, b); err != nil {
		d.h.t.Fatalf("upload: %v", err)
	}
	return b
}

func (d *device) mutation(action, woID string, base int64, data any) change.Change {
	raw, _ := json.Marshal(data)
	return change.Change{ID: uuid.NewString(), Family: "work_orders", Entity: "work_order", EntityID: woID, Op: change.OpUpsert,
		HLC: d.clock.Now(), Action: action, Data: raw, BaseVersion: base, DeviceID: d.enr.DeviceID, ClientRef: uuid.NewString(),
		SchemaVersion: change.SchemaVersion}
}

func (d *device) transition(woID string, base int64, event string, extra map[string]any) change.Change {
	body := map[string]any{"event": event, "client_event_id": uuid.NewString(), "occurred_at": time.Now().UTC()}
	for k, v := range extra {
		body[k] = v
	}
	return d.mutation("transition", woID, base, body)
}

// result waits for the hub's answer to a change: an upload_result on the technician's feed.
func (d *device) result(changeID string) syncsvc.MutationResult {
	d.h.t.Helper()
	f := d.consume()
	var out syncsvc.MutationResult
	hubtest.CheckFor(d.h.t, 15*time.Second, 20*time.Millisecond, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, b := range f.batches {
			for _, c := range b.Changes {
				if c.Entity != "upload_result" {
					continue
				}
				var ur syncsvc.UploadResult
				json.Unmarshal(c.Data, &ur)
				if ur.ChangeID != changeID || ur.DeviceID != d.enr.DeviceID {
					continue
				}
				out = syncsvc.MutationResult{ChangeID: ur.ChangeID, ClientRef: ur.ClientRef, EntityID: ur.EntityID, Status: ur.Status,
					Replayed: ur.Status == "replayed", Result: ur.Result, Action: ur.Action}
				if ur.Error != nil {
					out.Reason, out.Code, out.Fields = ur.Error.Message, ur.Error.Code, ur.Error.Fields
				}
				for _, c := range ur.Conflicts {
					out.Conflicts = append(out.Conflicts, c.ID)
				}
				if len(ur.Conflicts) > 0 && ur.Status == "applied" {
					out.Status = syncsvc.StatusConflict
				}
				return nil
			}
		}
		return fmt.Errorf("no result for %s yet", changeID)
	})
	return out
}

func (d *device) control(typ string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.ctl {
		if c.Type == typ {
			return true
		}
	}
	return false
}

func (h *harness) woStatus(wo string) (string, int64) {
	var s string
	var v int64
	if err := h.env.DB.Pool.QueryRow(context.Background(), `SELECT status, version FROM work_orders WHERE id = $1`, wo).Scan(&s, &v); err != nil {
		h.t.Fatal(err)
	}
	return s, v
}

func (h *harness) count(sql string, args ...any) int {
	var n int
	if err := h.env.DB.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}
