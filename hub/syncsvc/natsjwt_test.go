package syncsvc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"dotmac.dev/field/hub/syncsvc"
	"dotmac.dev/field/sync/jetstream"
)

// A NATS server in operator mode, as an external cluster would run: a device's minted JWT lets
// it use its own subjects and the server refuses everything else — the permissions are enforced
// by NATS, not by the hub.
func TestDeviceJWTs_ServerEnforcesPermissions(t *testing.T) {
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	signing, _ := nkeys.CreateAccount() // the key the hub holds, not the account's own
	signingPub, _ := signing.PublicKey()
	signingSeed, _ := signing.Seed()
	sys, _ := nkeys.CreateAccount()
	sysPub, _ := sys.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.SystemAccount = sysPub
	ac := jwt.NewAccountClaims(accPub)
	ac.SigningKeys.Add(signingPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	sc := jwt.NewAccountClaims(sysPub)
	sysJWT, _ := sc.Encode(op)
	resolver := &server.MemAccResolver{}
	resolver.Store(accPub, accJWT)
	resolver.Store(sysPub, sysJWT)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, TrustedOperators: []*jwt.OperatorClaims{oc},
		AccountResolver: resolver, SystemAccount: sysPub, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}

	if _, err := syncsvc.NewDeviceJWTs("not a seed", ""); err == nil {
		t.Fatal("a bad seed must be refused")
	}
	user, _ := nkeys.CreateUser()
	userSeed, _ := user.Seed()
	if _, err := syncsvc.NewDeviceJWTs(string(userSeed), ""); err == nil || !strings.Contains(err.Error(), "account key") {
		t.Fatalf("a user seed must be refused: %v", err)
	}
	mint, err := syncsvc.NewDeviceJWTs(string(signingSeed), accPub)
	if err != nil {
		t.Fatal(err)
	}
	down, up := jetstream.Down(), jetstream.Up()
	const tech, other, device = "tech-a", "tech-b", "device-1"
	pub, sub := jetstream.DevicePermissions(down, up, tech, device)
	token, seed, key, err := mint.Mint(device, pub, sub)
	if err != nil {
		t.Fatal(err)
	}
	if claims, err := jwt.DecodeUserClaims(token); err != nil || claims.Name != device || claims.Subject != key || claims.IssuerAccount != accPub {
		t.Fatalf("claims: %+v %v", claims, err)
	}

	violations := make(chan error, 8)
	nc, err := nats.Connect(ns.ClientURL(), nats.UserJWTAndSeed(token, seed), nats.CustomInboxPrefix(jetstream.InboxPrefix(device)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatalf("the device cannot connect with its JWT: %v", err)
	}
	defer nc.Close()
	// Its own upload subject and control subject are allowed.
	if err := nc.Publish(up.Subject(device), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	ctl, err := nc.SubscribeSync("dmf.ctl." + device)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		t.Fatalf("an allowed subject was refused: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Another technician's feed and another device's upload subject are refused by the server.
	for _, try := range []func() error{
		func() error { _, err := nc.SubscribeSync(down.Subject(other)); return err },
		func() error { return nc.Publish(up.Subject("device-2"), []byte("{}")) },
	} {
		if err := try(); err != nil {
			continue
		}
		nc.Flush()
		select {
		case err := <-violations:
			if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("want a permissions violation, got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not refuse a subject outside the device's permissions")
		}
	}
}
