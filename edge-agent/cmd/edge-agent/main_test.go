package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/agenttest"
	"dotmac.dev/field/sync/field"
)

// TestBinaryDependencies: the edge agent binary never links the hub's database driver, web
// framework or job queue (ARCHITECTURE.md), nor the hub itself or a NATS server.
func TestBinaryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, bad := range []string{"github.com/jackc/pgx", "github.com/gin-gonic/gin", "github.com/hibiken/asynq",
		"dotmac.dev/field/hub", "github.com/nats-io/nats-server", "github.com/redis/"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("edge-agent links %s", dep)
			}
		}
	}
	for _, want := range []string{"modernc.org/sqlite", "github.com/nats-io/nats.go", "dotmac.dev/field/sync/fieldexec"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("edge-agent does not link %s", want)
		}
	}
}

func TestConfig_LoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8081": true, "[::1]:8081": true, "localhost:1": true,
		"0.0.0.0:8081": false, ":8081": false, "192.168.1.5:8081": false} {
		if err := loopbackOnly(addr); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// client is a PWA stand-in against a running agent.
type client struct {
	t     testing.TB
	base  string
	token string
}

func (c *client) do(method, path string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s: %w", raw, err)
		}
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, nil
}

func (c *client) login(email, password string) error {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &tok); err != nil {
		return err
	}
	c.token = tok.AccessToken
	return nil
}

func enrollFor(t testing.TB, h *agenttest.FakeHub) string {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"enroll", "--hub", h.URL(), "--code", "ENROLL-1", "--data", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("enroll exited %d: %s", code, stderr.String())
	}
	st, err := os.Stat(filepath.Join(dir, agent.CredentialsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v", st.Mode(), err)
	}
	// A used code is refused with a clear error.
	if code := Run(context.Background(), []string{"enroll", "--hub", h.URL(), "--code", "ENROLL-1", "--data", t.TempDir()}, io.Discard, io.Discard); code == 0 {
		t.Fatal("a used code enrolled again")
	}
	return dir
}

// TestEnrollRun_LoginOnlineThenOffline runs the agent in-process: enroll, serve, log in with the
// hub's check, then log in again with the hub gone (cached hash), read jobs and sync status.
func TestEnrollRun_LoginOnlineThenOffline(t *testing.T) {
	h := agenttest.NewFakeHub(t)
	dir := enrollFor(t, h)
	wo := h.SeedJob()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Listen = dir, "127.0.0.1:0"
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := &client{t: t, base: "http://" + <-m.Addr}

	if _, err := c.do("GET", "/api/v1/field/jobs", nil, nil); err == nil {
		t.Fatal("jobs without a login")
	}
	if err := c.login("tech1@example.com", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.login("tech1@example.com", "tech123!"); err != nil {
		t.Fatal(err)
	}
	var list field.List[field.JobSummary]
	agenttest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, err := c.do("GET", "/api/v1/field/jobs", nil, &list); err != nil {
			return err
		}
		if list.Total != 1 || list.Items[0].ID != wo || !list.Items[0].IsPrimary {
			return fmt.Errorf("jobs %+v", list)
		}
		return nil
	})
	var me agent.Me
	if _, err := c.do("GET", "/api/v1/auth/me", nil, &me); err != nil || me.ID != h.Tech {
		t.Fatalf("me %+v %v", me, err)
	}

	// The hub goes away: the cached hash still signs the technician in; the app answers offline.
	h.HTTP.Close()
	off := &client{t: t, base: c.base}
	if err := off.login("tech1@example.com", "wrong"); err == nil {
		t.Fatal("wrong password accepted offline")
	}
	if err := off.login("TECH1@example.com", "tech123!"); err != nil {
		t.Fatalf("offline login: %v", err)
	}
	var res field.TransitionResponse
	req := map[string]any{"event": "start", "client_event_id": uuid.NewString()}
	if _, err := off.do("POST", "/api/v1/field/jobs/"+wo+"/transition", req, &res); err != nil || res.Job.Status != "in_progress" {
		t.Fatalf("transition: %v %+v", err, res.Event)
	}
	var st field.SyncStatus
	if _, err := off.do("GET", "/api/v1/sync/status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Scope["work_orders"] != 1 || st.LastSyncAt == nil {
		t.Fatalf("status %+v", st)
	}
	for _, p := range []string{"/healthz", "/readyz", "/"} {
		res, err := http.Get(c.base + p)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, res, err)
		}
		res.Body.Close()
	}
}

// TestKill9DuringUploads builds the binary and kills it with SIGKILL at random points while the
// technician keeps writing (retrying what got no answer, as the PWA does); after the last restart
// every acknowledged write reaches the hub exactly once and nothing is doubled locally.
func TestKill9DuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and loops")
	}
	loops := 50
	if v := os.Getenv("EDGE_KILL_LOOPS"); v != "" {
		fmt.Sscan(v, &loops)
	}
	bin := filepath.Join(t.TempDir(), "edge-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	h := agenttest.NewFakeHub(t)
	dir := enrollFor(t, h)
	wo := h.SeedJob()

	logPath := filepath.Join(t.TempDir(), "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("agent log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	var (
		acked   = map[string]bool{} // client_ref → answered 2xx
		pending []string            // sent without an answer: retried with the same client_ref
	)
	start := func() (*exec.Cmd, *client) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "run", "--data", dir, "--listen", addr)
		cmd.Env = append(os.Environ(), "EDGE_LOG_LEVEL=info", "EDGE_LOG_FORMAT=text")
		cmd.Stderr = logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, base: "http://" + addr}
		agenttest.CheckFor(t, 15*time.Second, 10*time.Millisecond, func() error {
			_, err := c.do("GET", "/readyz", nil, nil)
			return err
		})
		if err := c.login("tech1@example.com", "tech123!"); err != nil {
			t.Fatal(err)
		}
		return cmd, c
	}
	for i := range loops {
		cmd, c := start()
		if i == 0 {
			agenttest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
				_, err := c.do("GET", "/api/v1/field/jobs/"+wo, nil, nil)
				return err
			})
		}
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var ref string
				if len(pending) > 0 {
					ref = pending[0]
				} else {
					ref = uuid.NewString()
					pending = append(pending, ref)
				}
				mu.Unlock()
				code, _ := c.do("POST", "/api/v1/field/jobs/"+wo+"/notes", map[string]string{"client_ref": ref, "body": "note " + ref}, nil)
				if code == 200 || code == 201 {
					mu.Lock()
					acked[ref] = true
					pending = pending[1:]
					mu.Unlock()
				}
			}
		})
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
	}

	// A last run, left alone until everything is uploaded and answered.
	cmd, c := start()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	for _, ref := range pending { // what got no answer is retried once more, as the PWA would
		if _, err := c.do("POST", "/api/v1/field/jobs/"+wo+"/notes", map[string]string{"client_ref": ref, "body": "note " + ref}, nil); err != nil {
			t.Fatal(err)
		}
		acked[ref] = true
	}
	agenttest.CheckFor(t, 3*time.Minute, 100*time.Millisecond, func() error {
		var st field.SyncStatus
		if _, err := c.do("GET", "/api/v1/sync/status", nil, &st); err != nil {
			return err
		}
		if st.PendingUploads != 0 || st.OpenConflicts != 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	var job field.Job
	if _, err := c.do("GET", "/api/v1/field/jobs/"+wo, nil, &job); err != nil {
		t.Fatal(err)
	}
	h.Mu.Lock()
	defer h.Mu.Unlock()
	applied := map[string]int{}
	for _, ref := range h.Applied {
		applied[ref]++
	}
	for ref := range acked {
		if applied[ref] != 1 {
			t.Errorf("acknowledged note %s applied %d times on the hub", ref, applied[ref])
		}
	}
	local := map[string]int{}
	for _, n := range job.Notes {
		if n.ClientRef != nil {
			local[*n.ClientRef]++
		}
	}
	for ref, n := range local {
		if n != 1 {
			t.Errorf("note %s is %d times on the tablet", ref, n)
		}
		if applied[ref] != 1 {
			t.Errorf("note %s on the tablet was applied %d times on the hub", ref, applied[ref])
		}
	}
	if len(acked) == 0 || len(local) < len(acked) {
		t.Fatalf("%d acknowledged, %d on the tablet", len(acked), len(local))
	}
	t.Logf("%d kills; %d notes acknowledged, %d on the tablet and the hub", loops, len(acked), len(local))
}
