// Package app wires the hub: configuration, PostgreSQL, Redis, NATS (embedded or external), the
// services, the HTTP server, background loops and asynq jobs. cmd/hub runs it; end-to-end tests
// start the very same App.
package app

import (
	"dotmac.dev/field/hub/syncsvc"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the hub's one configuration, from flags and the environment, validated at start.
type Config struct {
	Addr        string
	DatabaseURL string
	RedisURL    string
	NATSURL     string
	// AgentNATSURL is the NATS address given to tablets when it differs from the hub's (a public
	// name of the cluster); empty: NATS_URL without its credentials (HUB_AGENT_NATS_URL).
	AgentNATSURL string
	// NATSCreds is the hub's own credentials file on an external cluster (HUB_NATS_CREDS).
	NATSCreds string
	// NATSAccountSigningSeed and NATSAccount let the hub mint each device's NATS user JWT on an
	// external cluster in operator mode (deploy/nats/DEVICES.md).
	NATSAccountSigningSeed string
	NATSAccount            string
	NATSListen             string
	DataDir                string
	JWTKeys                string
	AccessTTL              time.Duration
	RateLimit              int
	RateWindow             time.Duration
	LoginLimit             int
	MaxBodyBytes           int64
	// FiberImportMaxBytes is the body limit of the GeoJSON import (API and admin upload).
	FiberImportMaxBytes int64
	LogLevel            string
	LogFormat           string
	Worker              bool
	SecureCookies       bool
	PublicURL           string
	DBMaxConns          int
}

// DefaultConfig returns the defaults, overridden by the environment.
func DefaultConfig() Config {
	return Config{
		Addr:                   env("HUB_ADDR", "127.0.0.1:8080"),
		DatabaseURL:            env("DATABASE_URL", ""),
		RedisURL:               env("REDIS_URL", "redis://127.0.0.1:6379/0"),
		NATSURL:                env("NATS_URL", ""),
		NATSCreds:              env("HUB_NATS_CREDS", ""),
		AgentNATSURL:           env("HUB_AGENT_NATS_URL", ""),
		NATSAccountSigningSeed: env("HUB_NATS_ACCOUNT_SIGNING_SEED", ""),
		NATSAccount:            env("HUB_NATS_ACCOUNT", ""),
		NATSListen:             env("HUB_NATS_LISTEN", "127.0.0.1:7422"),
		DataDir:                env("HUB_DATA_DIR", ".data/hub"),
		JWTKeys:                env("HUB_JWT_KEYS", ""),
		AccessTTL:              envDuration("HUB_ACCESS_TTL", 15*time.Minute),
		RateLimit:              envInt("HUB_RATE_LIMIT", 100),
		RateWindow:             envDuration("HUB_RATE_WINDOW", 60*time.Second),
		MaxBodyBytes:           int64(envInt("HUB_MAX_BODY_BYTES", 1<<20)),
		FiberImportMaxBytes:    int64(envInt("HUB_FIBER_IMPORT_MAX_BYTES", 256<<20)),
		LogLevel:               env("HUB_LOG_LEVEL", "info"),
		LogFormat:              env("HUB_LOG_FORMAT", "text"),
		Worker:                 envBool("HUB_WORKER", true),
		SecureCookies:          envBool("HUB_SECURE_COOKIES", false),
		PublicURL:              env("HUB_PUBLIC_URL", ""),
		DBMaxConns:             envInt("HUB_DB_MAX_CONNS", 40),
	}
}

// RegisterFlags binds every field to a flag whose default is the current value.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (HUB_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL (REDIS_URL)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS URL; empty embeds a NATS server (NATS_URL)")
	fs.StringVar(&c.AgentNATSURL, "agent-nats-url", c.AgentNATSURL, "NATS URL given to tablets; empty: NATS_URL without credentials (HUB_AGENT_NATS_URL)")
	fs.StringVar(&c.NATSCreds, "nats-creds", c.NATSCreds, "the hub's NATS credentials file on an external cluster (HUB_NATS_CREDS)")
	fs.StringVar(&c.NATSAccount, "nats-account", c.NATSAccount, "the devices' NATS account public key, A… (HUB_NATS_ACCOUNT)")
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "embedded NATS client address for edge agents (HUB_NATS_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory: attachments, JetStream, keys (HUB_DATA_DIR)")
	fs.StringVar(&c.JWTKeys, "jwt-keys", c.JWTKeys, "JWT keys kid:secret[,kid:secret…]; first signs; empty: generated in the data dir (HUB_JWT_KEYS)")
	fs.DurationVar(&c.AccessTTL, "access-ttl", c.AccessTTL, "access token lifetime (HUB_ACCESS_TTL)")
	fs.IntVar(&c.RateLimit, "rate-limit", c.RateLimit, "API requests per user per window (HUB_RATE_LIMIT)")
	fs.DurationVar(&c.RateWindow, "rate-window", c.RateWindow, "rate limit window (HUB_RATE_WINDOW)")
	fs.IntVar(&c.LoginLimit, "login-rate-limit", c.LoginLimit, "logins and refreshes per IP per minute (HUB_LOGIN_RATE_LIMIT)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body (HUB_MAX_BODY_BYTES)")
	fs.Int64Var(&c.FiberImportMaxBytes, "fiber-import-max-bytes", c.FiberImportMaxBytes, "largest GeoJSON import body (HUB_FIBER_IMPORT_MAX_BYTES)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug|info|warn|error (HUB_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text|json (HUB_LOG_FORMAT)")
	fs.BoolVar(&c.Worker, "worker", c.Worker, "serve: also run background jobs in this process (HUB_WORKER)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", c.SecureCookies, "mark cookies Secure (behind TLS) (HUB_SECURE_COOKIES)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base URL for links in messages (HUB_PUBLIC_URL)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, "PostgreSQL pool size (HUB_DB_MAX_CONNS)")
}

// Validate checks the configuration for a command, with messages that say what to fix.
func (c *Config) Validate(cmd string) error {
	var errs []string
	if cmd != "routes" && c.DatabaseURL == "" {
		errs = append(errs, "DATABASE_URL (--database-url) is required, e.g. postgres://postgres@127.0.0.1:5432/dotmac")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Sprintf("HUB_ADDR %q is not host:port", c.Addr))
	}
	if c.NATSURL == "" && c.NATSListen != "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Sprintf("HUB_NATS_LISTEN %q is not host:port", c.NATSListen))
		}
	}
	if c.NATSAccountSigningSeed != "" {
		if c.NATSURL == "" {
			errs = append(errs, "HUB_NATS_ACCOUNT_SIGNING_SEED is for an external NATS cluster in operator mode: set NATS_URL too (the embedded server checks devices itself)")
		} else if _, err := syncsvc.NewDeviceJWTs(c.NATSAccountSigningSeed, c.NATSAccount); err != nil {
			errs = append(errs, "HUB_NATS_ACCOUNT_SIGNING_SEED / HUB_NATS_ACCOUNT: "+err.Error())
		}
	}
	if c.RateLimit < 1 {
		errs = append(errs, "HUB_RATE_LIMIT must be at least 1")
	}
	if c.RateWindow < time.Second {
		errs = append(errs, "HUB_RATE_WINDOW must be at least 1s")
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, "HUB_MAX_BODY_BYTES must be at least 1024")
	}
	if c.FiberImportMaxBytes < 1024 {
		errs = append(errs, "HUB_FIBER_IMPORT_MAX_BYTES must be at least 1024")
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		errs = append(errs, "HUB_ACCESS_TTL must be between 1m and 24h")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, "HUB_LOG_LEVEL must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, "HUB_LOG_FORMAT must be text or json")
	}
	if c.DataDir == "" {
		errs = append(errs, "HUB_DATA_DIR is required")
	}
	if len(errs) > 0 {
		return errors.New("invalid configuration:\n  " + strings.Join(errs, "\n  "))
	}
	return nil
}

// Logger builds the process logger.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envBool(k string, def bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
