package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hibiken/asynq"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/fiber"
	"dotmac.dev/field/hub/natsembed"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
	"dotmac.dev/field/hub/seed"
	"dotmac.dev/field/hub/token"
	"dotmac.dev/field/hub/web"
)

// App is the wired hub.
type App struct {
	Config Config
	Logger *slog.Logger

	DB       *postgres.DB
	Redis    *redis.Client
	NATS     *natsembed.Server // nil when NATS_URL points elsewhere
	NC       *nats.Conn
	Registry *prometheus.Registry
	Keys     *token.Keyring
	Asynq    *asynq.Client

	Auth   *postgres.AuthService
	People *postgres.PersonService
	RBAC   *postgres.RBACService
	Audit  *postgres.AuditService
	Server *web.Server

	// HashParams overrides password hashing cost (tests).
	HashParams *secret.Params

	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	closers  []func()
	areas    []web.Area
}

// New returns an App that has opened nothing yet.
func New(cfg Config, logger *slog.Logger) *App {
	if logger == nil {
		logger = slog.Default()
	}
	return &App{Config: cfg, Logger: logger, Registry: prometheus.NewRegistry()}
}

// Open connects to PostgreSQL (migrating it), Redis and NATS, and builds the services and the
// router. withNATS false skips NATS (worker, one-off commands).
func (a *App) Open(ctx context.Context, withNATS bool) error {
	if err := os.MkdirAll(a.Config.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := a.openDB(ctx); err != nil {
		return err
	}
	if err := a.Migrate(ctx); err != nil {
		return err
	}
	ropt, err := redis.ParseURL(a.Config.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	ropt.DialTimeout = 2 * time.Second
	a.Redis = redis.NewClient(ropt)
	a.closers = append(a.closers, func() { a.Redis.Close() })
	if err := a.Redis.Ping(ctx).Err(); err != nil {
		a.Logger.Warn("redis is not answering; rate limits fall back to memory and jobs wait", "error", err)
	}
	a.Asynq = asynq.NewClientFromRedisClient(a.Redis)
	if withNATS {
		if err := a.openNATS(); err != nil {
			return err
		}
	}
	keys, err := a.loadKeys()
	if err != nil {
		return err
	}
	a.Keys = token.NewKeyring(keys, a.Config.AccessTTL)
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPoolCollector(a.DB))
	a.buildServices()
	bgctx, cancel := context.WithCancel(context.Background())
	a.bgCancel = cancel
	a.Go(bgctx, a.Auth.ListenInvalidations)
	return a.buildServer(bgctx)
}

func (a *App) openDB(ctx context.Context) error {
	if a.DB != nil {
		return nil
	}
	db, err := postgres.Open(ctx, a.Config.DatabaseURL, int32(a.Config.DBMaxConns))
	if err != nil {
		return err
	}
	db.Logger = a.Logger
	a.DB = db
	a.closers = append(a.closers, db.Close)
	return nil
}

func (a *App) openNATS() error {
	if a.Config.NATSURL != "" {
		opts := []nats.Option{nats.Name("dmf-hub"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
		if a.Config.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(a.Config.NATSCreds))
		}
		nc, err := nats.Connect(a.Config.NATSURL, opts...)
		if err != nil {
			return fmt.Errorf("NATS_URL: %w", err)
		}
		a.NC = nc
		a.closers = append(a.closers, nc.Close)
		return nil
	}
	srv, err := natsembed.Start(natsembed.Config{Listen: a.Config.NATSListen, StoreDir: filepath.Join(a.Config.DataDir, "jetstream"),
		Authenticator: a.natsAuthenticator()})
	if err != nil {
		return err
	}
	a.NATS = srv
	nc, err := srv.Connect("dmf-hub")
	if err != nil {
		srv.Shutdown()
		return err
	}
	a.NC = nc
	a.closers = append(a.closers, srv.Shutdown, nc.Close) // closed in reverse: conn, then server
	return nil
}

// loadKeys reads HUB_JWT_KEYS or a key kept in the data dir (made on first start).
func (a *App) loadKeys() ([]token.Key, error) {
	if a.Config.JWTKeys != "" {
		return token.ParseKeys(a.Config.JWTKeys)
	}
	path := filepath.Join(a.Config.DataDir, "jwt.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		b = []byte("k" + time.Now().UTC().Format("20060102") + ":" + hex.EncodeToString(raw))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("jwt key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	return token.ParseKeys(strings.TrimSpace(string(b)))
}

func (a *App) buildServices() {
	a.Auth = postgres.NewAuthService(a.DB)
	a.People = postgres.NewPersonService(a.DB, a.Auth)
	a.People.HashParams = a.HashParams
	a.RBAC = postgres.NewRBACService(a.DB, a.Auth)
	a.Audit = postgres.NewAuditService(a.DB)
}

func (a *App) buildServer(ctx context.Context) error {
	areas, err := a.buildAreas(ctx)
	if err != nil {
		return err
	}
	a.areas = areas
	csrf := sha256.Sum256([]byte("csrf:" + string(a.Keys.SigningSecret())))
	a.Server = web.New(web.Deps{
		Auth: a.Auth, People: a.People, RBAC: a.RBAC, Audit: a.Audit, Keys: a.Keys,
		Limiter:  &web.RateLimiter{Redis: a.Redis, Limit: a.Config.RateLimit, Window: a.Config.RateWindow, Logger: a.Logger, LeaseMax: 20},
		Logger:   a.Logger,
		Ready:    a.readiness(),
		Registry: a.Registry, CSRFKey: csrf[:], LoginLimit: a.Config.LoginLimit, SecureCookies: a.Config.SecureCookies, MaxBodyBytes: a.Config.MaxBodyBytes,
		Areas: areas,
	})
	a.coreDashboard()
	a.portalSections()
	return nil
}

// coreDashboard adds the System tiles of the staff dashboard.
func (a *App) coreDashboard() {
	count := func(c *gin.Context, sql string) string {
		var n int
		if err := a.DB.Pool.QueryRow(c.Request.Context(), sql).Scan(&n); err != nil {
			return "—"
		}
		return strconv.Itoa(n)
	}
	a.Server.AddDashboardCard(func(c *gin.Context, p *hub.Principal) *web.DashboardCard {
		if !p.Can("people:person:read") {
			return nil
		}
		return &web.DashboardCard{Title: "Active people", Value: count(c, `SELECT count(*) FROM people WHERE status = 'active'`),
			Note: count(c, `SELECT count(DISTINCT person_id) FROM sessions WHERE status = 'active' AND expires_at > now()`) + " signed in", Href: "/admin/system/users"}
	})
	a.Server.AddDashboardCard(func(c *gin.Context, p *hub.Principal) *web.DashboardCard {
		if !p.Can("audit:log:read") {
			return nil
		}
		return &web.DashboardCard{Title: "Failed sign-ins (24 h)", Value: count(c, `SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND NOT success AND at > now() - interval '24 hours'`),
			Note: count(c, `SELECT count(*) FROM credentials WHERE locked_until > now()`) + " accounts locked", Href: "/admin/system/audit?action=auth.login"}
	})
}

// Go runs a background loop until Close.
func (a *App) Go(ctx context.Context, fn func(ctx context.Context)) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		fn(ctx)
	}()
}

// Migrate applies pending migrations and refreshes the RBAC catalogue.
func (a *App) Migrate(ctx context.Context) error {
	if err := a.openDB(ctx); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, a.DB.Pool, a.Logger); err != nil {
		return err
	}
	return postgres.SyncRBAC(ctx, a.DB.Pool)
}

// MigrateDown rolls back steps migrations.
func (a *App) MigrateDown(ctx context.Context, steps int) error {
	if err := a.openDB(ctx); err != nil {
		return err
	}
	return postgres.MigrateDown(ctx, a.DB.Pool, steps)
}

// SeedDemo adds the demo data once.
func (a *App) SeedDemo(ctx context.Context, out io.Writer) (bool, error) {
	if err := a.openDB(ctx); err != nil {
		return false, err
	}
	return seed.Run(ctx, a.DB, out, a.HashParams)
}

// FiberImport imports a GeoJSON FeatureCollection into the fiber plant, all or nothing, as the
// import API does (hub fiber-import). A rejected file is a *fiber.ImportError.
func (a *App) FiberImport(ctx context.Context, r io.Reader, progress fiber.Progress) (*fiber.ImportResult, error) {
	if err := a.Migrate(ctx); err != nil {
		return nil, err
	}
	return fiber.NewService(a.DB, a.Logger).Import(ctx, r, nil, progress)
}

// RouteTable builds a router without connecting anything and lists its routes.
func (a *App) RouteTable() []string {
	a.Keys = token.NewKeyring([]token.Key{{ID: "x", Secret: make([]byte, 32)}}, time.Minute)
	areas, _ := a.buildAreas(context.Background())
	s := web.New(web.Deps{Keys: a.Keys, Logger: a.Logger, Areas: areas})
	return s.RouteTable()
}

// Serve runs the HTTP server (and, with HUB_WORKER, the background jobs) until ctx ends, then
// shuts down gracefully.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.Config.Addr, err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on an open listener (tests pass 127.0.0.1:0).
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := a.Server.HTTPServer(ln.Addr().String())
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	workerDone := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	if a.Config.Worker {
		go func() {
			defer close(workerDone)
			if err := a.RunWorker(wctx); err != nil {
				a.Logger.Error("worker stopped", "error", err)
			}
		}()
	} else {
		close(workerDone)
	}
	// Close must not shut Redis under a running worker: wait for it on the way out.
	defer func() { wcancel(); <-workerDone }()
	natsAddr := "(external) " + a.Config.NATSURL
	if a.NATS != nil {
		natsAddr = a.NATS.ClientURL()
	}
	a.Logger.Info("hub listening", "addr", "http://"+ln.Addr().String(), "nats", natsAddr)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	a.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Close stops background loops and closes connections, newest first.
func (a *App) Close() {
	if a.bgCancel != nil {
		a.bgCancel()
	}
	a.bg.Wait()
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// readiness lists the dependencies /readyz checks.
func (a *App) readiness() []web.Checker {
	out := []web.Checker{
		checker{"database", func(ctx context.Context) error { return a.DB.Pool.Ping(ctx) }},
		checker{"redis", func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }},
	}
	if a.NC != nil {
		out = append(out, checker{"nats", func(ctx context.Context) error {
			if !a.NC.IsConnected() {
				return fmt.Errorf("not connected (%s)", a.NC.Status())
			}
			return a.NC.FlushWithContext(ctx)
		}})
	}
	return out
}

type checker struct {
	name string
	fn   func(context.Context) error
}

func (c checker) Name() string                    { return c.name }
func (c checker) Check(ctx context.Context) error { return c.fn(ctx) }

// poolCollector exports pgx pool statistics.
type poolCollector struct {
	db                                   *postgres.DB
	acquired, idle, total, max, waitSecs *prometheus.Desc
	acquires                             *prometheus.Desc
}

func newPoolCollector(db *postgres.DB) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("dmf_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{db: db, acquired: d("acquired_conns", "Connections in use."), idle: d("idle_conns", "Idle connections."),
		total: d("total_conns", "Open connections."), max: d("max_conns", "Pool size."),
		waitSecs: d("acquire_wait_seconds_total", "Time spent waiting for a connection."), acquires: d("acquires_total", "Connections acquired.")}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.acquired, p.idle, p.total, p.max, p.waitSecs, p.acquires} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.db.Pool.Stat()
	ch <- prometheus.MustNewConstMetric(p.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(p.waitSecs, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(p.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
}
