// Command edge-agent runs on a technician's tablet: it serves the PWA and the field API on
// loopback from a SQLite replica of the technician's scope and syncs it with the hub over NATS.
//
//	edge-agent enroll --hub URL --code CODE --data DIR
//	edge-agent run --data DIR [--listen 127.0.0.1:8081] [--nats-url URL]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/natsync"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/edge-agent/web"
	"dotmac.dev/field/sync/hlc"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRevoked = 3
)

func main() {
	os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  edge-agent enroll --hub URL --code CODE --data DIR [--name NAME]
  edge-agent run --data DIR [--listen 127.0.0.1:8081] [--nats-url URL]

Every flag can also be set from the environment: EDGE_HUB_URL, EDGE_ENROLL_CODE, EDGE_DATA_DIR,
EDGE_DEVICE_NAME, EDGE_ADDR, EDGE_NATS_URL, EDGE_LOG_LEVEL, EDGE_LOG_FORMAT, EDGE_VERIFY_INTERVAL.
`

// Config is the edge agent's configuration, from flags over environment over defaults.
type Config struct {
	DataDir        string
	HubURL         string
	Code           string
	DeviceName     string
	Listen         string
	NATSURL        string
	LogLevel       string
	LogFormat      string
	VerifyInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{Listen: "127.0.0.1:8081", LogLevel: "info", LogFormat: "json", DeviceName: host, VerifyInterval: 10 * time.Minute}
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// ParseFlags reads one subcommand's flags over the environment.
func ParseFlags(cmd string, args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("edge-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", env("EDGE_DATA_DIR", ""), "data directory (credentials, replica, blobs)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("EDGE_LOG_LEVEL", cfg.LogLevel), "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", env("EDGE_LOG_FORMAT", cfg.LogFormat), "json or text")
	switch cmd {
	case "enroll":
		fs.StringVar(&cfg.HubURL, "hub", env("EDGE_HUB_URL", ""), "hub URL, e.g. http://127.0.0.1:8080")
		fs.StringVar(&cfg.Code, "code", env("EDGE_ENROLL_CODE", ""), "one-time enrollment code from the hub")
		fs.StringVar(&cfg.DeviceName, "name", env("EDGE_DEVICE_NAME", cfg.DeviceName), "this device's name")
	case "run":
		fs.StringVar(&cfg.Listen, "listen", env("EDGE_ADDR", cfg.Listen), "loopback address of the local API and PWA")
		fs.StringVar(&cfg.NATSURL, "nats-url", env("EDGE_NATS_URL", ""), "override the NATS URL received at enrollment")
		fs.DurationVar(&cfg.VerifyInterval, "verify-interval", cfg.VerifyInterval, "how often to compare checksums with the hub")
		if v := env("EDGE_VERIFY_INTERVAL", ""); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				cfg.VerifyInterval = d
			}
		}
	default:
		return cfg, fmt.Errorf("unknown command %q", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate(cmd)
}

// Validate checks the configuration of cmd.
func (c Config) Validate(cmd string) error {
	if c.DataDir == "" {
		return errors.New("--data is required")
	}
	switch cmd {
	case "enroll":
		if c.HubURL == "" || c.Code == "" {
			return errors.New("--hub and --code are required")
		}
	case "run":
		if err := loopbackOnly(c.Listen); err != nil {
			return err
		}
	}
	return nil
}

// loopbackOnly refuses any listen address that is not loopback: the local API must never be
// reachable from the network.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: the edge agent listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	return nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Run runs a command and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd := args[0]
	cfg, err := ParseFlags(cmd, args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent: %v\n\n%s", err, usage)
		return exitUsage
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger)
	switch cmd {
	case "enroll":
		if err := enroll(ctx, cfg, stdout); err != nil {
			logger.Error("enrollment failed", "err", err)
			fmt.Fprintf(stderr, "edge-agent: enrollment failed: %v\n", err)
			return exitError
		}
		return exitOK
	default:
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		m := &Main{Config: cfg, Logger: logger}
		err := m.Run(ctx)
		switch {
		case errors.Is(err, agent.ErrRevoked):
			logger.Error("this device was revoked; its replica was purged")
			return exitRevoked
		case err != nil:
			logger.Error("edge agent stopped", "err", err)
			return exitError
		}
		return exitOK
	}
}

func enroll(ctx context.Context, cfg Config, stdout io.Writer) error {
	if c, err := agent.LoadCredentials(cfg.DataDir); err == nil {
		return fmt.Errorf("%s is already enrolled as device %s", cfg.DataDir, c.DeviceID)
	}
	hub := natsync.NewHubClient(cfg.HubURL, "")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	creds, err := hub.Enroll(ctx, natsync.EnrollRequest{Code: cfg.Code, Name: cfg.DeviceName, Platform: runtime.GOOS + "/" + runtime.GOARCH})
	if err != nil {
		return err
	}
	if err := agent.SaveCredentials(cfg.DataDir, creds); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled device %s for technician %s; credentials in %s\n", creds.DeviceID, creds.TechnicianID,
		filepath.Join(cfg.DataDir, agent.CredentialsFile))
	return nil
}

// Main is the running agent: the replica, the sync client and the local server.
type Main struct {
	Config Config
	Logger *slog.Logger

	// Addr is the address the server listens on, once it does (tests read it).
	Addr chan string
}

// Run serves until ctx is done or the device is revoked.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	creds, err := agent.LoadCredentials(cfg.DataDir)
	if err != nil {
		return err
	}
	dbPath, blobs := filepath.Join(cfg.DataDir, agent.DatabaseFile), filepath.Join(cfg.DataDir, agent.BlobsDir)
	db, err := sqlite.Open(ctx, dbPath, blobs)
	if err != nil {
		return err
	}
	closed := false
	closeDB := func() {
		if !closed {
			closed = true
			db.Close()
		}
	}
	defer closeDB()
	db.DeviceID, db.TechnicianID = creds.DeviceID, creds.TechnicianID
	db.Clock = hlc.New(creds.DeviceID)
	if off := clockOffset(); off != 0 {
		// A tablet whose clock is wrong (tests of clock skew): both the local times the agent
		// records and its hybrid logical clock read the shifted clock.
		now := func() time.Time { return time.Now().Add(off) }
		db.Now, db.Clock.Physical = now, now
		m.Logger.Warn("device clock offset in effect", "offset", off.String())
	}

	hub := natsync.NewHubClient(creds.HubURL, creds.Token())
	client := &natsync.Client{
		Creds: creds, DB: db, Hub: hub, Logger: m.Logger, NATSURL: cfg.NATSURL, VerifyInterval: cfg.VerifyInterval,
		Dir: cfg.DataDir,
	}
	client.Purge = func() error {
		closeDB()
		return errors.Join(
			sqlite.Purge(dbPath, blobs),
			os.Remove(filepath.Join(cfg.DataDir, agent.CredentialsFile)),
			os.WriteFile(filepath.Join(cfg.DataDir, agent.RevokedFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600),
		)
	}
	db.OnWrite = client.Wake

	srv := &web.Server{
		DB: db, TechnicianID: creds.TechnicianID, Hub: hub, Sync: client, Logger: m.Logger.WithGroup("http"),
		FetchBlob: hub.GetBlob,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if m.Addr != nil {
		m.Addr <- ln.Addr().String()
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	m.Logger.Info("edge agent listening", "addr", ln.Addr().String(), "device_id", creds.DeviceID, "technician_id", creds.TechnicianID)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()
	syncErr := make(chan error, 1)
	go func() { syncErr <- client.Run(ctx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		runErr = err
	case err := <-syncErr:
		runErr = err
	}
	cancel()
	m.Logger.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = httpSrv.Shutdown(sctx)
	if runErr == nil || !errors.Is(runErr, agent.ErrRevoked) {
		select {
		case err := <-syncErr:
			if errors.Is(err, agent.ErrRevoked) {
				runErr = err
			}
		case <-sctx.Done():
		}
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	if runErr != nil && strings.Contains(runErr.Error(), "context canceled") {
		runErr = nil
	}
	return runErr
}

// clockOffset reads EDGE_CLOCK_OFFSET (a Go duration such as 24h or -24h), a hidden setting that
// shifts the agent's clock to simulate a tablet with a wrong clock (fault tests).
func clockOffset() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("EDGE_CLOCK_OFFSET"))
	return d
}
