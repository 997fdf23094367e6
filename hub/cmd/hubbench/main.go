// Command hubbench runs the hub's benchmarks and prints each figure beside its baseline:
//
//	name | value | baseline | ratio
//
// Areas add benches to the registry in their own file (benches = append(benches, bench{...}) in an
// init function). -only runs the benches whose name contains the given text.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

// result is one row of the table.
type result struct {
	Name, Value, Baseline string
	Ratio                 float64 // 0: none
	Pass                  *bool   // nil: not judged
}

type bench struct {
	name string
	fn   func(ctx context.Context) ([]result, error)
}

var benches []bench

var (
	only        = flag.String("only", "", "run only benches whose name contains this text")
	databaseURL = flag.String("database-url", firstEnv("BENCH_DATABASE_URL", "TEST_DATABASE_URL", "DATABASE_URL"), "PostgreSQL server (a bench database is made on it)")
	redisURL    = flag.String("redis-url", firstEnv("TEST_REDIS_URL", "REDIS_URL"), "Redis URL")
)

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	failed := false
	fmt.Println("name | value | baseline | ratio")
	for _, b := range benches {
		if *only != "" && !strings.Contains(b.name, *only) {
			continue
		}
		start := time.Now()
		rows, err := b.fn(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			failed = true
			continue
		}
		for _, r := range rows {
			ratio := "-"
			if r.Ratio != 0 {
				ratio = fmt.Sprintf("%.2f", r.Ratio)
			}
			verdict := ""
			if r.Pass != nil {
				verdict = " PASS"
				if !*r.Pass {
					verdict = " FAIL"
					failed = true
				}
			}
			fmt.Printf("%s | %s | %s | %s%s\n", r.Name, r.Value, r.Baseline, ratio, verdict)
		}
		fmt.Fprintf(os.Stderr, "%s took %s\n", b.name, time.Since(start).Round(time.Millisecond))
	}
	if failed {
		os.Exit(1)
	}
}

func judge(ok bool) *bool { return &ok }
