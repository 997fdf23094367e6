package web

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Two replicas leasing from one Redis never admit more than the limit between them.
func TestRateLimiter_LeasesNeverExceedTheLimit(t *testing.T) {
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		t.Skip("TEST_REDIS_URL is not set")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	prefix := uuid.NewString() + ":"
	a := &RateLimiter{Redis: rc, Prefix: prefix, LeaseMax: 20}
	b := &RateLimiter{Redis: rc, Prefix: prefix, LeaseMax: 20}
	const limit = 1000
	allowed, calls := 0, 0
	for i := 0; i < 3*limit; i++ {
		l := a
		if i%3 == 0 {
			l = b
		}
		if d := l.Allow(context.Background(), "user", limit, time.Hour); d.Allowed {
			allowed++
		}
		calls++
	}
	// Unused leases lapse, so a little under the limit is fine; more never is.
	if allowed > limit || allowed < limit-40 {
		t.Fatalf("allowed %d of %d with limit %d", allowed, calls, limit)
	}
	// At the default limit (100) there is no leasing: the count is exact.
	c := &RateLimiter{Redis: rc, Prefix: prefix, LeaseMax: 20}
	n := 0
	for i := 0; i < 150; i++ {
		if c.Allow(context.Background(), "small", 100, time.Hour).Allowed {
			n++
		}
	}
	if n != 100 {
		t.Fatalf("limit 100 allowed %d", n)
	}
}
