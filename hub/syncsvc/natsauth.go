package syncsvc

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"dotmac.dev/field/hub/natsembed"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/jetstream"
)

// Authenticator decides who may connect to the embedded NATS server: the hub itself (in-process
// only) with every permission, and each active device with its own id and secret and exactly the
// subjects of jetstream.DevicePermissions. The server enforces them; anything else is refused.
type Authenticator struct {
	DB       *postgres.DB
	Logger   *slog.Logger
	Down, Up jetstream.Config
}

var _ server.Authentication = (*Authenticator)(nil)

// NewAuthenticator returns the embedded server's authenticator.
func NewAuthenticator(db *postgres.DB, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Authenticator{DB: db, Logger: logger.With("component", "sync.natsauth"), Down: jetstream.Down(), Up: jetstream.Up()}
}

// Check implements server.Authentication.
func (a *Authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	if opts == nil {
		return false
	}
	addr := c.RemoteAddress()
	if opts.Username == natsembed.HubUser {
		// The hub connects in-process (net.Pipe); a network client never has a pipe address.
		if addr != nil && addr.Network() == "pipe" {
			c.RegisterUser(&server.User{Username: natsembed.HubUser})
			return true
		}
		a.Logger.Warn("refused the hub user over the network", "remote", addr)
		return false
	}
	if a.DB == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d, err := checkDevice(ctx, a.DB, opts.Username, opts.Password)
	if err != nil {
		a.Logger.Info("refused a NATS connection", "user", opts.Username, "remote", addr, "error", err)
		return false
	}
	if d.Status != DeviceActive {
		a.Logger.Info("refused a revoked device", "device_id", d.ID, "remote", addr)
		return false
	}
	pub, sub := jetstream.DevicePermissions(a.Down, a.Up, d.TechnicianID, d.ID)
	c.RegisterUser(&server.User{Username: d.ID, Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}})
	ip := ""
	if addr != nil {
		ip = addr.String()
	}
	go func() { // last contact, off the connect path
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = a.DB.Pool.Exec(ctx, `UPDATE devices SET last_seen_at = now(), last_ip = $2 WHERE id = $1`, d.ID, ip)
	}()
	return true
}
