// Package natsembed runs the NATS server with JetStream inside the hub (the default when NATS_URL
// is empty). At scale the hub points at a NATS cluster instead (deploy/nats/).
package natsembed

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures the embedded server.
type Config struct {
	Listen   string // client address for edge agents, e.g. 127.0.0.1:7422; "" or port -1 for a random port
	StoreDir string // JetStream storage
	// Users are the accounts allowed to connect (the hub's own user plus per-device users). The
	// hub connects in-process and is not listed. nil allows no network clients but the hub.
	Users []*server.User
	// Authenticator, when set, replaces the static Users (per-device credentials looked up live).
	Authenticator server.Authentication
	MaxMemory     int64
	MaxStore      int64
}

// HubUser is the account the hub itself uses (full permissions, in-process only in practice).
const HubUser = "dmf-hub"

func randomPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Server is a running embedded NATS.
type Server struct {
	NS      *server.Server
	hubPass string
}

// Start runs the server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	host, port := "127.0.0.1", -1
	if cfg.Listen != "" {
		h, p, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsembed: listen address %q: %w", cfg.Listen, err)
		}
		host = h
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("natsembed: listen port %q: %w", p, err)
		}
	}
	opts := &server.Options{
		ServerName:                 "dmf-hub",
		Host:                       host,
		Port:                       port,
		JetStream:                  true,
		StoreDir:                   cfg.StoreDir,
		JetStreamMaxMemory:         cfg.MaxMemory,
		JetStreamMaxStore:          cfg.MaxStore,
		NoSigs:                     true,
		NoLog:                      true,
		MaxPayload:                 8 << 20,
		Users:                      cfg.Users,
		CustomClientAuthentication: cfg.Authenticator,
	}
	if opts.JetStreamMaxMemory == 0 {
		opts.JetStreamMaxMemory = 256 << 20
	}
	if opts.JetStreamMaxStore == 0 {
		opts.JetStreamMaxStore = 8 << 30
	}
	hubPass := randomPassword()
	if cfg.Authenticator == nil {
		opts.Users = append([]*server.User{{Username: HubUser, Password: hubPass}}, cfg.Users...)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsembed: server did not start on %s:%d", host, port)
	}
	return &Server{NS: ns, hubPass: hubPass}, nil
}

// Connect opens an in-process connection for the hub itself (no network, no credentials).
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.InProcessServer(s.NS), nats.MaxReconnects(-1),
		nats.UserInfo(HubUser, s.hubPass)}, opts...)
	return nats.Connect("", opts...)
}

// ClientURL is the address edge agents connect to.
func (s *Server) ClientURL() string { return s.NS.ClientURL() }

// Shutdown stops the server and waits.
func (s *Server) Shutdown() {
	s.NS.Shutdown()
	s.NS.WaitForShutdown()
}
