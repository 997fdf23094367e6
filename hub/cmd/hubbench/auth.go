package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/secret"
)

func init() { register("auth", benchAuth) }

// benchAuth: GET /api/v1/auth/me (JWT check + rate limit + permission lookup) against a trivial
// unguarded Gin handler in the same process and run; login throughput and the hashing cost.
func benchAuth(ctx context.Context, e *Env) ([]Row, error) {
	h, closeHub, err := e.NewHub(ctx, "auth", true, func(c *app.Config) { c.LoginLimit = 1 << 30 })
	if err != nil {
		return nil, err
	}
	defer closeHub()
	// The demo seed hashes cheaply for speed; give admin a real (default-cost) hash for the login figure.
	hash, _ := secret.HashPassword("admin123!")
	if _, err := h.DB.Pool.Exec(ctx, `UPDATE credentials SET password_hash = $1 WHERE person_id = (SELECT id FROM people WHERE email = 'admin@example.com')`, hash); err != nil {
		return nil, err
	}
	tok, err := login(h.URL, "admin@example.com", "admin123!")
	if err != nil {
		return nil, err
	}

	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/trivial", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: g}
	go srv.Serve(ln)
	defer srv.Close()

	dur := 6 * time.Second
	if e.Quick {
		dur = 2 * time.Second
	}
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	base, err := Load(ctx, "http://"+ln.Addr().String()+"/trivial", http.Header{}, 32, dur)
	if err != nil {
		return nil, err
	}
	me, err := Load(ctx, h.URL+"/api/v1/auth/me", hdr, 32, dur)
	if err != nil {
		return nil, err
	}
	ratio := me.RPS / base.RPS

	// Login: password hashing dominates. Measure the hash alone, then logins at concurrency 2 (the cores).
	const n = 20
	t0 := time.Now()
	for i := 0; i < n; i++ {
		secret.CheckPassword(hash, "admin123!")
	}
	hashCost := time.Since(t0) / n
	logins := 40
	if e.Quick {
		logins = 10
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lerr error
	t1 := time.Now()
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < logins/2; i++ {
				if _, err := login(h.URL, "admin@example.com", "admin123!"); err != nil {
					mu.Lock()
					lerr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	loginRPS := float64(logins) / time.Since(t1).Seconds()
	return []Row{
		{Name: "auth: GET /api/v1/auth/me req/s (c=32)", Value: fmt.Sprintf("%.0f (p99 %s)", me.RPS, Ms(me.P99)),
			Baseline: fmt.Sprintf("%.0f trivial gin (p99 %s)", base.RPS, Ms(base.P99)), Ratio: fmt.Sprintf("%.2f", ratio), Target: "ratio ≥ 0.4", OK: Met(ratio >= 0.4)},
		{Name: "auth: POST /api/v1/auth/login req/s (c=2)", Value: fmt.Sprintf("%.1f", loginRPS),
			Baseline: fmt.Sprintf("argon2id check %s (19 MiB, t=2)", Ms(hashCost)), Ratio: fmt.Sprintf("%.2f", loginRPS*hashCost.Seconds()/2),
			Target: "hashing dominates (ratio → 1)", OK: "-"},
	}, nil
}

func login(base, email, pw string) (string, error) {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		return "", fmt.Errorf("login %s: status %d", email, res.StatusCode)
	}
	return out.AccessToken, nil
}
