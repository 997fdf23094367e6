package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/changetest"
	"dotmac.dev/field/sync/jetstream"
)

// TestDevicePermissions: with DevicePermissions enforced by the server, a
// device consumes its technician's feed and publishes its own uploads, and
// can do neither for anyone else.
func TestDevicePermissions(t *testing.T) {
	down, up := jetstream.Down(), jetstream.Up()
	down.PollWait, up.PollWait = 200*time.Millisecond, 200*time.Millisecond
	pub, sub := jetstream.DevicePermissions(down, up, "tech-1", "dev-1")
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "hub", Password: "hub"},
			{Username: "dev-1", Password: "dev", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: pub},
				Subscribe: &server.SubjectPermission{Allow: sub},
			}},
		},
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	dial := func(user, pass string, o ...nats.Option) njs.JetStream {
		nc, err := nats.Connect(url, append(o, nats.UserInfo(user, pass), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := njs.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hub := dial("hub", "hub")
	hubDown, err := jetstream.New(ctx, hub, down)
	if err != nil {
		t.Fatal(err)
	}
	hubUp, err := jetstream.New(ctx, hub, up)
	if err != nil {
		t.Fatal(err)
	}
	mine := changetest.NewBatch("wo-1", 1, 1)
	if _, err := hubDown.Publish(ctx, "tech-1", mine); err != nil {
		t.Fatal(err)
	}
	if _, err := hubDown.Publish(ctx, "tech-2", changetest.NewBatch("wo-2", 1, 1)); err != nil {
		t.Fatal(err)
	}

	dev := dial("dev-1", "dev", nats.CustomInboxPrefix(jetstream.InboxPrefix("dev-1")))
	devDown, err := jetstream.Bind(ctx, dev, down)
	if err != nil {
		t.Fatalf("device bind down: %v", err)
	}
	devUp, err := jetstream.Bind(ctx, dev, up)
	if err != nil {
		t.Fatalf("device bind up: %v", err)
	}

	// Its own feed flows both ways.
	c := changetest.StartConsumer(t, devDown, "tech-1", change.ConsumeOptions{Durable: "dev-1"})
	if got := c.WaitFor(t, 1); got[0].ID != mine.ID {
		t.Fatalf("device got %v", got[0].ID)
	}
	c.Stop()
	if _, err := devUp.Publish(ctx, "dev-1", changetest.NewBatch("wo-1", 2, 1)); err != nil {
		t.Fatalf("device upload: %v", err)
	}

	// Nobody else's.
	short, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if _, err := devUp.Publish(short, "dev-2", changetest.NewBatch("wo-1", 3, 1)); err == nil {
		t.Error("device published as another device")
	}
	stream, err := dev.Stream(ctx, down.Stream)
	if err != nil {
		t.Fatal(err)
	}
	short3, cancel3 := context.WithTimeout(ctx, time.Second)
	defer cancel3()
	if _, err := stream.CreateOrUpdateConsumer(short3, down.ConsumerConfig("dev-1", "tech-2", 0)); err == nil {
		t.Error("device opened another technician's feed")
	}
	short4, cancel4 := context.WithTimeout(ctx, time.Second)
	defer cancel4()
	if _, err := stream.CreateOrUpdateConsumer(short4, down.ConsumerConfig("dev-2", "tech-1", 0)); err == nil {
		t.Error("device created a consumer under another name")
	}
	if head, err := hubUp.Head(ctx); err != nil || head != 1 {
		t.Fatalf("up head = %d, %v", head, err)
	}
}
