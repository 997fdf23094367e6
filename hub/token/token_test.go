package token

import (
	"testing"
	"time"
)

func TestIssueVerifyRotate(t *testing.T) {
	old := Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	cur := Key{ID: "k2", Secret: []byte("fedcba9876543210fedcba9876543210")}
	k1 := NewKeyring([]Key{old}, 15*time.Minute)
	tok, err := k1.Issue("p", "s", "api", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// After rotation the new key signs and the old one still verifies.
	k2 := NewKeyring([]Key{cur, old}, 15*time.Minute)
	c, err := k2.Verify(tok)
	if err != nil || c.Subject != "p" || c.SessionID != "s" {
		t.Fatalf("verify after rotation: %+v %v", c, err)
	}
	expired, _ := k2.Issue("p", "s", "api", time.Now().Add(-time.Hour))
	if _, err := k2.Verify(expired); err != ErrExpired {
		t.Fatalf("expired: %v", err)
	}
	if _, err := NewKeyring([]Key{cur}, time.Minute).Verify(tok); err != ErrInvalid {
		t.Fatalf("unknown kid: %v", err)
	}
	if _, err := k2.Verify("garbage"); err != ErrInvalid {
		t.Fatalf("garbage: %v", err)
	}
}
