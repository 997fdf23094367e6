// Package hubtest starts a whole hub (the same app.App as `hub serve`) on a fresh database, a real
// Redis and an embedded NATS, for end-to-end tests. Import it only from _test.go files.
package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/postgres/postgrestest"
	"dotmac.dev/field/hub/secret"
)

// Env is a running hub.
type Env struct {
	T   testing.TB
	App *app.App
	DB  *postgres.DB
	URL string
}

// Options tune New.
type Options struct {
	Demo      bool // seed the demo ISP and logins
	Worker    bool // run asynq jobs
	RateLimit int  // default 100000 (effectively off)
	Configure func(*app.Config)
}

// CheapHash makes password hashing fast in tests.
var CheapHash = &secret.Params{Memory: 1024, Time: 1, Threads: 1}

// RedisURL returns TEST_REDIS_URL, skipping (or failing under CI) when unset.
func RedisURL(t testing.TB) string {
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`")
		}
		t.Skip("TEST_REDIS_URL is not set: run `make test`")
	}
	return u
}

// New starts a hub for t and stops it when t ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	cfg := Config(t)
	cfg.Worker = o.Worker
	if o.RateLimit > 0 {
		cfg.RateLimit = o.RateLimit
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	a, ctx, cancel := Open(t, cfg, o.Demo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ServeListener(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return &Env{T: t, App: a, DB: a.DB, URL: "http://" + ln.Addr().String()}
}

// Config is the configuration New starts a hub with: a database of its own, Redis, an embedded
// NATS on a free port, a temporary data directory, no worker and a rate limit tests never reach.
func Config(t testing.TB) app.Config {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = postgrestest.NewDatabase(t)
	cfg.RedisURL = RedisURL(t)
	cfg.NATSURL = ""
	cfg.NATSListen = "127.0.0.1:-1"
	cfg.DataDir = t.TempDir()
	cfg.JWTKeys = "test:" + strings.Repeat("k", 40)
	cfg.Worker = false
	cfg.DBMaxConns = 10
	cfg.RateLimit = 100000
	return cfg
}

// Open opens a hub App for cfg (migrated, and seeded with the demo data when demo is set), with
// cheap password hashing and a rate-limit namespace of its own (HUBTEST_LOG=1 shows its log).
// The caller serves it and, when done, cancels ctx and closes it.
func Open(t testing.TB, cfg app.Config, demo bool) (*app.App, context.Context, context.CancelFunc) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("HUBTEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a := app.New(cfg, logger)
	a.HashParams = CheapHash
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Open(ctx, true); err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	a.Server.Limiter.Prefix = postgres.NewID() + ":"
	if demo {
		if _, err := a.SeedDemo(ctx, nil); err != nil {
			cancel()
			a.Close()
			t.Fatal(err)
		}
	}
	return a, ctx, cancel
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as an object.
func (r *Response) Map(t testing.TB) map[string]any {
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrorCode returns error.code of an error body.
func (r *Response) ErrorCode() string {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// Do sends a request with an optional bearer token and JSON body (a string or []byte is sent as is).
func (e *Env) Do(method, path, token string, body any) *Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(http.DefaultClient, req)
}

// Send performs req with client and reads the whole answer.
func (e *Env) Send(c *http.Client, req *http.Request) *Response {
	e.T.Helper()
	res, err := c.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Login returns an access token and a refresh token, failing the test on error.
func (e *Env) Login(email, password string) (access, refresh string) {
	e.T.Helper()
	r := e.Do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.Status != http.StatusOK {
		e.T.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	var tok struct{ AccessToken, RefreshToken string }
	json.Unmarshal(r.Body, &struct {
		A *string `json:"access_token"`
		R *string `json:"refresh_token"`
	}{&tok.AccessToken, &tok.RefreshToken})
	return tok.AccessToken, tok.RefreshToken
}

// Token logs in and returns just the access token.
func (e *Env) Token(email, password string) string { a, _ := e.Login(email, password); return a }

// Browser returns an HTTP client with a cookie jar that does not follow redirects.
func (e *Env) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout: 30 * time.Second}
}

// CheckFor polls fn until it returns nil or the timeout passes.
func CheckFor(t testing.TB, timeout, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("timed out after %s: %v", timeout, err)
}

// Demo login passwords (CONTRACT.md).
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "admin123!"
	DispatchEmail = "dispatcher@example.com"
	DispatchPass  = "dispatch123!"
	Tech1Email    = "tech1@example.com"
	TechPassword  = "tech123!"
	CustomerEmail = "customer1@example.com"
	CustomerPass  = "customer123!"
)
