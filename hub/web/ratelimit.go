package web

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"dotmac.dev/field/hub"
)

// RateLimiter is a sliding-window limiter (the weighted two-window approximation). Each Redis call
// leases a few requests of the window to this replica (INCRBY n, never past the limit), so a busy
// caller costs one round trip per lease instead of per request; the lease is limit/100 clamped to
// 1..LeaseMax, so at the default 100 requests a minute every request still asks Redis. Leased but
// unused requests lapse with their window: the limit is never exceeded across replicas. When
// Redis does not answer it falls back to the same algorithm in memory, so an outage degrades to
// per-replica limits instead of failing or letting everything through.
type RateLimiter struct {
	Redis  *redis.Client
	Limit  int
	Window time.Duration
	Logger *slog.Logger
	// Prefix namespaces the Redis keys (tests sharing one Redis).
	Prefix string
	// LeaseMax caps how many requests one Redis call may lease (0 means 1: no leasing).
	LeaseMax int

	mem    memWindows
	leases sync.Map // key → *lease
}

type lease struct {
	mu        sync.Mutex
	win       int64
	left      int // leased requests not used yet
	remaining int // what Redis said remains after the lease
}

// Decision is one request's verdict.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	Reset     time.Duration // until the current window ends
}

// The script keeps one counter per window; the estimate weighs the previous window by how much of
// it still overlaps the sliding window.
var slidingScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local est = prev * weight + cur
if est >= limit then
  return {0, math.floor(est)}
end
local n = math.min(want, math.floor(limit - est))
if n < 1 then n = 1 end
cur = redis.call('INCRBY', KEYS[1], n)
if cur == n then redis.call('PEXPIRE', KEYS[1], ttl) end
return {n, math.floor(prev * weight + cur)}
`)

// Allow counts one request for key.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) Decision {
	now := time.Now()
	win := now.UnixNano() / int64(window)
	elapsed := time.Duration(now.UnixNano() - win*int64(window))
	weight := 1 - float64(elapsed)/float64(window)
	reset := window - elapsed
	if l.Redis != nil {
		want := min(max(limit/100, 1), max(l.LeaseMax, 1))
		var ls *lease
		if want > 1 {
			v, _ := l.leases.LoadOrStore(key, &lease{})
			ls = v.(*lease)
			ls.mu.Lock()
			defer ls.mu.Unlock()
			if ls.win == win && ls.left > 0 {
				ls.left--
				return Decision{Allowed: true, Limit: limit, Remaining: ls.remaining + ls.left, Reset: reset}
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		k1 := "rl:" + l.Prefix + key + ":" + strconv.FormatInt(win, 10)
		k0 := "rl:" + l.Prefix + key + ":" + strconv.FormatInt(win-1, 10)
		res, err := slidingScript.Run(rctx, l.Redis, []string{k1, k0}, limit, weight, (2 * window).Milliseconds(), want).Int64Slice()
		if err == nil && len(res) == 2 {
			granted, remaining := int(res[0]), max(0, limit-int(res[1]))
			if ls != nil && granted > 0 {
				ls.win, ls.left, ls.remaining = win, granted-1, remaining
			}
			return Decision{Allowed: granted > 0, Limit: limit, Remaining: remaining + max(granted-1, 0), Reset: reset}
		}
		if l.Logger != nil {
			l.Logger.Warn("rate limiter: redis unavailable, using in-memory windows", "error", err)
		}
	}
	return l.mem.allow(key, limit, win, weight, reset)
}

type memWindows struct {
	mu sync.Mutex
	m  map[string]*memWindow
}

type memWindow struct {
	win       int64
	cur, prev int
}

func (m *memWindows) allow(key string, limit int, win int64, weight float64, reset time.Duration) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) > 200_000 {
		m.m = map[string]*memWindow{}
	}
	w := m.m[key]
	if w == nil {
		w = &memWindow{win: win}
		m.m[key] = w
	}
	switch {
	case w.win == win-1:
		w.prev, w.cur, w.win = w.cur, 0, win
	case w.win < win-1:
		w.prev, w.cur, w.win = 0, 0, win
	}
	est := float64(w.prev)*weight + float64(w.cur)
	if est >= float64(limit) {
		return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: reset}
	}
	w.cur++
	est++
	return Decision{Allowed: true, Limit: limit, Remaining: max(0, limit-int(math.Floor(est))), Reset: reset}
}

// rateLimit limits the API per user (per IP when anonymous).
func (s *Server) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.Limiter == nil {
			c.Next()
			return
		}
		key := "ip:" + c.ClientIP()
		if p := hub.PrincipalFrom(c.Request.Context()); p != nil {
			key = "u:" + p.PersonID
		}
		if !s.applyLimit(c, key, s.Limiter.Limit, s.Limiter.Window) {
			return
		}
		c.Next()
	}
}

// applyLimit counts the request and writes the X-RateLimit headers; on refusal it answers 429.
func (s *Server) applyLimit(c *gin.Context, key string, limit int, window time.Duration) bool {
	d := s.Limiter.Allow(c.Request.Context(), key, limit, window)
	resetSecs := int(math.Ceil(d.Reset.Seconds()))
	c.Header("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	c.Header("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	c.Header("X-RateLimit-Reset", strconv.Itoa(resetSecs))
	if !d.Allowed {
		c.Header("Retry-After", strconv.Itoa(max(1, resetSecs)))
		Error(c, hub.Errorf(hub.ERATELIMITED, "too many requests: try again in %d seconds", max(1, resetSecs)))
		return false
	}
	return true
}

// loginLimit is the stricter limit on login: per IP and per email.
func (s *Server) loginLimit(c *gin.Context, email string) bool {
	if s.Limiter == nil {
		return true
	}
	return s.applyLimit(c, "login:"+c.ClientIP(), s.LoginLimit, time.Minute)
}

func slogLevel(status int) slog.Level {
	if status >= http.StatusInternalServerError {
		return slog.LevelError
	}
	return slog.LevelInfo
}
