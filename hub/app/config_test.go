package app

import (
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://x"
	if err := c.Validate("serve"); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := c
	bad.DatabaseURL = ""
	bad.Addr = "nope"
	bad.RateLimit = 0
	bad.LogLevel = "loud"
	err := bad.Validate("serve")
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"DATABASE_URL", "HUB_ADDR", "HUB_RATE_LIMIT", "HUB_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %s: %v", want, err)
		}
	}
	if err := bad.Validate("routes"); err == nil || strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("routes needs no database: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("HUB_ADDR", "127.0.0.1:9999")
	t.Setenv("HUB_RATE_LIMIT", "7")
	t.Setenv("HUB_WORKER", "false")
	c := DefaultConfig()
	if c.Addr != "127.0.0.1:9999" || c.RateLimit != 7 || c.Worker {
		t.Fatalf("%+v", c)
	}
}

func TestConfigValidate_DeviceJWTs(t *testing.T) {
	c := DefaultConfig()
	c.DatabaseURL = "postgres://x"
	c.NATSAccountSigningSeed = "SAnot-a-seed"
	if err := c.Validate("serve"); err == nil || !strings.Contains(err.Error(), "set NATS_URL") {
		t.Fatalf("a signing seed with the embedded server: %v", err)
	}
	c.NATSURL = "nats://nats.example:4222"
	if err := c.Validate("serve"); err == nil || !strings.Contains(err.Error(), "HUB_NATS_ACCOUNT_SIGNING_SEED") {
		t.Fatalf("a bad seed: %v", err)
	}
	kp, _ := nkeys.CreateAccount()
	seed, _ := kp.Seed()
	c.NATSAccountSigningSeed = string(seed)
	if err := c.Validate("serve"); err != nil {
		t.Fatalf("an account seed: %v", err)
	}
}

// Tablets never receive the hub's own NATS credentials.
func TestAgentNATSURL(t *testing.T) {
	for _, c := range []struct{ in, agent, want string }{
		{"nats://hub:s3cret@nats-1:4222,nats://hub:s3cret@nats-2:4222", "", "nats://nats-1:4222,nats://nats-2:4222"},
		{"nats://token@nats:4222", "", "nats://nats:4222"},
		{"nats://nats:4222", "", "nats://nats:4222"},
		{"nats://hub:pw@10.0.0.5:4222", "tls://nats.example.net:4222", "tls://nats.example.net:4222"},
	} {
		if got := agentNATSURL(Config{NATSURL: c.in, AgentNATSURL: c.agent}); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}
