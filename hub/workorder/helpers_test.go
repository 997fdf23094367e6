package workorder_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/hub/hubtest"
)

// env is a demo hub with tokens for the demo logins.
type env struct {
	*hubtest.Env
	t                         *testing.T
	admin, disp               string
	tech1, tech2, tech3       string // tokens
	tech1ID, tech2ID, tech3ID string
}

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{Env: hubtest.New(t, hubtest.Options{Demo: true}), t: t}
	e.admin = e.Token(hubtest.AdminEmail, hubtest.AdminPassword)
	e.disp = e.Token(hubtest.DispatchEmail, hubtest.DispatchPass)
	e.tech1 = e.Token("tech1@example.com", "tech123!")
	e.tech2 = e.Token("tech2@example.com", "tech123!")
	e.tech3 = e.Token("tech3@example.com", "tech123!")
	e.tech1ID, e.tech2ID, e.tech3ID = e.personID("tech1@example.com"), e.personID("tech2@example.com"), e.personID("tech3@example.com")
	return e
}

func (e *env) personID(email string) string {
	var id string
	if err := e.DB.Pool.QueryRow(e.t.Context(), `SELECT id FROM people WHERE email = $1`, email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// must sends a request and fails unless the status is want; it decodes the body into out (if any).
func (e *env) must(want int, method, path, token string, body any, out any) *hubtest.Response {
	e.t.Helper()
	r := e.Do(method, path, token, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			e.t.Fatalf("decode %s: %v", r.Body, err)
		}
	}
	return r
}

type wo struct {
	ID         string  `json:"id"`
	Number     string  `json:"number"`
	Status     string  `json:"status"`
	Version    int64   `json:"version"`
	AssignedTo *string `json:"assigned_to"`
	Crew       []struct {
		PersonID  string `json:"person_id"`
		IsPrimary bool   `json:"is_primary"`
	} `json:"crew"`
	StartedAt          *time.Time `json:"started_at"`
	CompletedAt        *time.Time `json:"completed_at"`
	CanceledAt         *time.Time `json:"canceled_at"`
	PausedAt           *time.Time `json:"paused_at"`
	TotalActiveSeconds int64      `json:"total_active_seconds"`
}

// newWO creates a scheduled work order assigned to tech (a person id; "" leaves it unassigned).
func (e *env) newWO(tech string, crew ...string) wo {
	e.t.Helper()
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	body := map[string]any{"title": "Test install", "work_type": "install", "priority": "normal",
		"site":            map[string]any{"address": "1 Test St, Bozeman", "lat": 45.68, "lon": -111.04},
		"scheduled_start": start.Format(time.RFC3339), "scheduled_end": start.Add(time.Hour).Format(time.RFC3339)}
	if tech != "" {
		body["assigned_to"] = tech
	}
	if len(crew) > 0 {
		body["crew"] = crew
	}
	var out wo
	e.must(http.StatusCreated, "POST", "/api/v1/work-orders", e.disp, body, &out)
	return out
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func errFields(t *testing.T, r *hubtest.Response) map[string]string {
	t.Helper()
	var b struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &b)
	return b.Error.Fields
}

func path(format string, args ...any) string { return fmt.Sprintf(format, args...) }
