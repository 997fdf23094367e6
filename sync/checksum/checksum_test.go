package checksum_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"dotmac.dev/field/sync/checksum"
)

func rows(n int, seed uint64) []checksum.Row {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]checksum.Row, n)
	for i := range out {
		out[i] = checksum.Row{ID: fmt.Sprintf("0190c8a2-7a10-7c4e-9b1a-%012x", r.Uint64()>>16), Version: int64(1 + r.IntN(50))}
	}
	return out
}

func TestOrderIndependent(t *testing.T) {
	rs := rows(1000, 1)
	a := checksum.Compute("work_orders", rs)
	shuffled := slices.Clone(rs)
	rand.New(rand.NewPCG(2, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := checksum.Compute("work_orders", shuffled)
	if a.Digest() != b.Digest() || len(checksum.Diff(a, b)) != 0 || a.Count() != 1000 {
		t.Fatal("order changed the checksum")
	}
	// Incremental maintenance gives the same result as recomputing.
	b.Update(rs[10].ID, rs[10].Version, rs[10].Version+1)
	b.Remove(rs[20].ID, rs[20].Version)
	b.Add("new-row", 1)
	rs2 := slices.Clone(rs)
	rs2[10].Version++
	rs2 = append(slices.Delete(rs2, 20, 21), checksum.Row{ID: "new-row", Version: 1})
	if c := checksum.Compute("work_orders", rs2); c.Digest() != b.Digest() {
		t.Fatal("incremental differs from recompute")
	}
}

func TestRepairOnlyWhatDiffers(t *testing.T) {
	hub := rows(5000, 9)
	replica := slices.Clone(hub)
	replica[3].Version--                                                        // stale
	replica = slices.Delete(replica, 100, 101)                                  // missing
	replica = append(replica, checksum.Row{ID: "evicted-long-ago", Version: 4}) // extra
	want := map[string]bool{hub[3].ID: true, hub[100].ID: true, "evicted-long-ago": true}

	h, r := checksum.Compute("t", hub), checksum.Compute("t", replica)
	if h.Digest() == r.Digest() {
		t.Fatal("digests equal")
	}
	buckets := checksum.Diff(r, h)
	if len(buckets) == 0 || len(buckets) > 3 {
		t.Fatalf("buckets = %v", buckets)
	}
	hubRows, replicaRows := checksum.InBuckets(hub, buckets), checksum.InBuckets(replica, buckets)
	if len(hubRows) > len(hub)/10 {
		t.Fatalf("shipped %d of %d rows", len(hubRows), len(hub))
	}
	fetch, drop := checksum.DiffRows(replicaRows, hubRows)
	got := map[string]bool{}
	for _, id := range append(fetch, drop...) {
		got[id] = true
	}
	if len(got) != len(want) || slices.Contains(drop, hub[3].ID) || !slices.Contains(drop, "evicted-long-ago") {
		t.Fatalf("fetch=%v drop=%v", fetch, drop)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("missed %s", id)
		}
	}
}

func TestCompare(t *testing.T) {
	a := checksum.Compute("a", rows(10, 1))
	b := checksum.Compute("b", rows(10, 2))
	b2 := checksum.Compute("b", rows(11, 2))
	only := checksum.Compute("c", rows(3, 3))
	ms := checksum.Compare([]*checksum.Table{a, b, only}, []*checksum.Table{a, b2, checksum.New("empty")})
	if len(ms) != 2 || ms[0].Table != "b" || ms[1].Table != "c" || len(ms[0].Buckets) != 1 {
		t.Fatalf("mismatches = %+v", ms)
	}
}

func TestJSON(t *testing.T) {
	a := checksum.Compute("work_orders", rows(50, 4))
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back checksum.Table
	if err := json.Unmarshal(b, &back); err != nil || back.Digest() != a.Digest() || back.Name != "work_orders" {
		t.Fatalf("round trip: %v", err)
	}
	tampered := strings.Replace(string(b), `"buckets":["`, `"buckets":["9`, 1)
	if err := json.Unmarshal([]byte(tampered), &back); err == nil {
		t.Fatal("tampered checksum accepted")
	}
}

func TestSetBucket(t *testing.T) {
	var tb checksum.Table
	if err := tb.SetBucket(0, 2, "-1"); err != nil || tb.Buckets[0].Sum != ^uint64(0) {
		t.Fatalf("%v %x", err, tb.Buckets[0].Sum)
	}
	if err := tb.SetBucket(1, 1, "36893488147419103233"); err != nil || tb.Buckets[1].Sum != 1 { // 2^65 + 1
		t.Fatalf("%v %d", err, tb.Buckets[1].Sum)
	}
	if tb.SetBucket(64, 1, "1") == nil || tb.SetBucket(0, 1, "x") == nil {
		t.Fatal("bad input accepted")
	}
}

// TestPostgresQuery checks that PostgreSQL computes the same buckets as Go.
// It needs psql and TEST_DATABASE_URL.
func TestPostgresQuery(t *testing.T) {
	url := os.Getenv("TEST_DATABASE_URL")
	psql, err := exec.LookPath("psql")
	if url == "" || err != nil {
		t.Skip("TEST_DATABASE_URL or psql missing")
	}
	rs := rows(300, 5)
	var vals []string
	for _, r := range rs {
		vals = append(vals, fmt.Sprintf("('%s'::uuid, %d::bigint)", r.ID, r.Version))
	}
	// uuid::text is canonical lower case, as the ids hashed in Go must be.
	src := "(VALUES " + strings.Join(vals, ",") + ") AS t(id, version)"
	q := fmt.Sprintf(checksum.PostgresQuery, "id", "version", src)
	out, err := exec.Command(psql, url, "-AtF", ",", "-c", q).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	var got checksum.Table
	got.Name = "t"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		i, _ := strconv.Atoi(f[0])
		n, _ := strconv.ParseInt(f[1], 10, 64)
		if err := got.SetBucket(i, n, f[2]); err != nil {
			t.Fatal(err)
		}
	}
	if want := checksum.Compute("t", rs); got.Digest() != want.Digest() {
		t.Fatalf("PostgreSQL buckets differ from Go: %v", checksum.Diff(&got, want))
	}
}
