// Command hubbench runs the hub's benchmarks (`make bench`): each figure beside the baseline the
// issue names, measured in the same run, with their ratio. Areas add benches in their own files
// with register(name, fn).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub/app"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/hub/secret"
)

// Row is one line of the results table.
type Row struct {
	Name     string
	Value    string
	Baseline string
	Ratio    string // value ÷ baseline as the issue defines it, or "-"
	Target   string
	OK       string // "yes", "no" or "-"
}

// Env is what a bench gets.
type Env struct {
	ServerURL string // PostgreSQL server (the bench makes its own databases on it)
	RedisURL  string
	Quick     bool // smaller data for a smoke run
	Log       io.Writer
}

type bench struct {
	name string
	run  func(ctx context.Context, e *Env) ([]Row, error)
}

var benches []bench

func register(name string, run func(ctx context.Context, e *Env) ([]Row, error)) {
	benches = append(benches, bench{name, run})
}

func main() {
	only := flag.String("only", "", "comma-separated bench names to run (default: all)")
	quick := flag.Bool("quick", false, "smaller data sets (a smoke run)")
	list := flag.Bool("list", false, "list the benches")
	flag.Parse()
	sort.SliceStable(benches, func(i, j int) bool { return order(benches[i].name) < order(benches[j].name) })
	if *list {
		for _, b := range benches {
			fmt.Println(b.name)
		}
		return
	}
	e := &Env{ServerURL: os.Getenv("DATABASE_URL"), RedisURL: os.Getenv("REDIS_URL"), Quick: *quick, Log: os.Stderr}
	if e.ServerURL == "" || e.RedisURL == "" {
		fmt.Fprintln(os.Stderr, "hubbench: DATABASE_URL and REDIS_URL are required (make bench sets them)")
		os.Exit(2)
	}
	if p := os.Getenv("HUBBENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var rows []Row
	failed := false
	for _, b := range benches {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), b.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "==> bench %s\n", b.name)
		start := time.Now()
		r, err := b.run(ctx, e)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s failed: %v\n", b.name, err)
			rows = append(rows, r...) // the figures measured before the failure
			rows = append(rows, Row{Name: b.name, Value: "error: " + err.Error(), Ratio: "-", OK: "no"})
			failed = true
			continue
		}
		fmt.Fprintf(os.Stderr, "    done in %s\n", time.Since(start).Round(time.Millisecond))
		rows = append(rows, r...)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tvalue\tbaseline\tratio\ttarget\tmet")
	fmt.Fprintln(w, "------\t-----\t--------\t-----\t------\t---")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Value, dash(r.Baseline), dash(r.Ratio), dash(r.Target), dash(r.OK))
	}
	w.Flush()
	if failed {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// order keeps the issue-2 rows first.
func order(name string) int {
	for i, p := range []string{"auth", "workorders", "dispatch", "fiber", "inventory", "sync", "pwa"} {
		if strings.HasPrefix(name, p) {
			return i
		}
	}
	return 99
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Hub is a running hub on its own fresh database.
type Hub struct {
	App *app.App
	URL string
	DB  *postgres.DB
}

// NewHub creates database dmf_bench_<name> (dropped first), starts a hub on it and returns it;
// close stops it. Logs are discarded.
func (e *Env) NewHub(ctx context.Context, name string, demo bool, configure func(*app.Config)) (*Hub, func(), error) {
	dbURL, err := e.FreshDatabase(ctx, "dmf_bench_"+name)
	if err != nil {
		return nil, nil, err
	}
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = dbURL
	cfg.RedisURL = e.RedisURL
	cfg.NATSURL = ""
	cfg.NATSListen = "127.0.0.1:-1"
	cfg.DataDir, _ = os.MkdirTemp("", "hubbench-")
	cfg.JWTKeys = "bench:" + strings.Repeat("b", 40)
	cfg.Worker = false
	cfg.RateLimit = 1 << 30
	cfg.LoginLimit = 1 << 30
	cfg.DBMaxConns = 40
	if configure != nil {
		configure(&cfg)
	}
	a := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.HashParams = &secret.Params{Memory: 1024, Time: 1, Threads: 1}
	hctx, cancel := context.WithCancel(ctx)
	if err := a.Open(hctx, true); err != nil {
		cancel()
		a.Close()
		return nil, nil, err
	}
	// Benches share one Redis: give each hub its own rate-limit keys.
	a.Server.Limiter.Prefix = name + ":" + postgres.NewID() + ":"
	if demo {
		if _, err := a.SeedDemo(hctx, nil); err != nil {
			cancel()
			a.Close()
			return nil, nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); a.ServeListener(hctx, ln) }()
	closeFn := func() {
		cancel()
		<-done
		a.Close()
		os.RemoveAll(cfg.DataDir)
	}
	return &Hub{App: a, URL: "http://" + ln.Addr().String(), DB: a.DB}, closeFn, nil
}

// FreshDatabase drops and creates a database on the server and returns its URL.
func (e *Env) FreshDatabase(ctx context.Context, name string) (string, error) {
	u, err := url.Parse(e.ServerURL)
	if err != nil {
		return "", err
	}
	u.Path = "/postgres"
	c, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := c.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// LoadResult is what Load measured.
type LoadResult struct {
	Requests int64
	Errors   int64
	Duration time.Duration
	RPS      float64
	P50, P99 time.Duration
}

// Load sends GETs to target at the given concurrency for d (after a short warm-up) and measures
// throughput and latency percentiles. Non-2xx answers count as errors.
func Load(ctx context.Context, target string, header http.Header, concurrency int, d time.Duration) (LoadResult, error) {
	return LoadTargets(ctx, []string{target}, header, concurrency, d)
}

// LoadTargets is Load over several targets, taken in turn.
func LoadTargets(ctx context.Context, targets []string, header http.Header, concurrency int, d time.Duration) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency * 2, MaxConnsPerHost: concurrency * 2}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	target := targets[0]
	var next atomic.Uint64
	do := func() (time.Duration, bool) {
		target := targets[next.Add(1)%uint64(len(targets))]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		req.Header = header.Clone()
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return time.Since(t0), res.StatusCode < 300
	}
	if _, ok := do(); !ok {
		return LoadResult{}, fmt.Errorf("load: %s does not answer 2xx", target)
	}
	warm := time.Now().Add(d / 5)
	for time.Now().Before(warm) {
		do()
	}
	var (
		mu       sync.Mutex
		lats     []time.Duration
		reqs     atomic.Int64
		errs     atomic.Int64
		wg       sync.WaitGroup
		deadline = time.Now().Add(d)
	)
	start := time.Now()
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				lat, ok := do()
				reqs.Add(1)
				if !ok {
					errs.Add(1)
					continue
				}
				local = append(local, lat)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	r := LoadResult{Requests: reqs.Load(), Errors: errs.Load(), Duration: el, RPS: float64(reqs.Load()-errs.Load()) / el.Seconds()}
	if len(lats) > 0 {
		r.P50 = lats[len(lats)/2]
		r.P99 = lats[len(lats)*99/100]
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("load: %d of %d requests failed", r.Errors, r.Requests)
	}
	return r, nil
}

// Percentile returns the p-th percentile (0..100) of ds (sorted in place).
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// Ratio formats a/b.
func Ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// Met says whether a target holds.
func Met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// Ms formats a duration in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
