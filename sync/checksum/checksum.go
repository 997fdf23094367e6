// Package checksum verifies a replica against the hub (ARCHITECTURE.md, sync
// guarantee 7) and finds what to repair without shipping whole tables.
//
// A table's checksum is order-independent: each row (id, version) hashes to a
// 64-bit value, and rows fall into Buckets buckets by a hash of their id; a
// bucket keeps its row count and the sum of its row hashes modulo 2^64.
// Adding and removing rows is O(1), so a replica can keep checksums current as
// it applies changes. When two tables' digests differ, Diff names the buckets
// that differ; the sides exchange only those buckets' (id, version) rows and
// DiffRows names the rows to fetch and to drop.
//
// Both hashes are MD5-based so PostgreSQL can compute a table's buckets in one
// query (PostgresQuery) instead of streaming rows. MD5 is used as a
// checksum, not for security.
package checksum

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Buckets is the number of buckets per table.
const Buckets = 64

// Row is one row's identity and version. Ids are hashed as text, so both
// sides must spell them alike (UUIDs: canonical lower case, as uuid::text).
type Row struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// BucketOf returns the bucket of a row id: the low 6 bits of the first byte
// of md5(id).
func BucketOf(id string) int {
	h := md5.Sum([]byte(id))
	return int(h[0] & (Buckets - 1))
}

// RowHash is the first 8 bytes, big-endian, of md5(id + ":" + version).
func RowHash(id string, version int64) uint64 {
	h := md5.Sum([]byte(id + ":" + strconv.FormatInt(version, 10)))
	return binary.BigEndian.Uint64(h[:8])
}

// PostgresQuery computes a table's buckets in PostgreSQL. Format it with the
// id column, the version column and the table (or a scoped subquery with an
// alias), and pass each result row to SetBucket:
//
//	fmt.Sprintf(checksum.PostgresQuery, "id", "version", "work_orders")
//
// The sum may be negative or exceed 64 bits; SetBucket reduces it mod 2^64.
const PostgresQuery = `SELECT (('x' || substr(md5(%[1]s::text), 1, 2))::bit(8)::int & 63) AS bucket,
       count(*) AS n,
       sum(('x' || substr(md5(%[1]s::text || ':' || %[2]s::text), 1, 16))::bit(64)::bigint::numeric)::text AS s
  FROM %[3]s
 GROUP BY 1`

// Bucket is the checksum of the rows in one bucket.
type Bucket struct {
	Count uint64
	Sum   uint64 // sum of RowHash, mod 2^64
}

// Table is the checksum of one table.
type Table struct {
	Name    string
	Buckets [Buckets]Bucket
}

// New returns the checksum of an empty table.
func New(name string) *Table { return &Table{Name: name} }

// Compute returns the checksum of rows.
func Compute(name string, rows []Row) *Table {
	t := New(name)
	for _, r := range rows {
		t.Add(r.ID, r.Version)
	}
	return t
}

// Add counts a row in.
func (t *Table) Add(id string, version int64) {
	b := &t.Buckets[BucketOf(id)]
	b.Count++
	b.Sum += RowHash(id, version)
}

// Remove counts a row out (it must have been added with the same version).
func (t *Table) Remove(id string, version int64) {
	b := &t.Buckets[BucketOf(id)]
	b.Count--
	b.Sum -= RowHash(id, version)
}

// Update replaces a row's old version with its new one.
func (t *Table) Update(id string, oldVersion, newVersion int64) {
	t.Remove(id, oldVersion)
	t.Add(id, newVersion)
}

// SetBucket sets bucket i from a count and a decimal sum of row hashes taken
// as signed or unsigned 64-bit values (see PostgresQuery).
func (t *Table) SetBucket(i int, count int64, sum string) error {
	if i < 0 || i >= Buckets || count < 0 {
		return fmt.Errorf("checksum: bucket %d count %d out of range", i, count)
	}
	n, ok := new(big.Int).SetString(strings.TrimSpace(sum), 10)
	if !ok {
		return fmt.Errorf("checksum: bad sum %q", sum)
	}
	n.Mod(n, new(big.Int).Lsh(big.NewInt(1), 64)) // Euclidean: always in [0, 2^64)
	t.Buckets[i] = Bucket{Count: uint64(count), Sum: n.Uint64()}
	return nil
}

// Count returns the number of rows.
func (t *Table) Count() uint64 {
	var n uint64
	for _, b := range t.Buckets {
		n += b.Count
	}
	return n
}

// Digest is a short hex digest of all buckets: equal digests mean equal tables.
func (t *Table) Digest() string {
	h := sha256.New()
	var buf [16]byte
	for _, b := range t.Buckets {
		binary.BigEndian.PutUint64(buf[:8], b.Count)
		binary.BigEndian.PutUint64(buf[8:], b.Sum)
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Diff returns the buckets in which a and b differ, ascending.
func Diff(a, b *Table) []int {
	var out []int
	for i := range Buckets {
		if a.Buckets[i] != b.Buckets[i] {
			out = append(out, i)
		}
	}
	return out
}

// InBuckets returns the rows that fall in the given buckets (to send to the
// other side after Diff).
func InBuckets(rows []Row, buckets []int) []Row {
	var want [Buckets]bool
	for _, b := range buckets {
		if b >= 0 && b < Buckets {
			want[b] = true
		}
	}
	var out []Row
	for _, r := range rows {
		if want[BucketOf(r.ID)] {
			out = append(out, r)
		}
	}
	return out
}

// DiffRows compares a replica's rows with the hub's (of the same buckets) and
// returns the ids the replica must fetch (missing, or at another version) and
// the ids it must drop (not on the hub), each sorted.
func DiffRows(replica, hub []Row) (fetch, drop []string) {
	have := make(map[string]int64, len(replica))
	for _, r := range replica {
		have[r.ID] = r.Version
	}
	for _, r := range hub {
		if v, ok := have[r.ID]; !ok || v != r.Version {
			fetch = append(fetch, r.ID)
		}
		delete(have, r.ID)
	}
	for id := range have {
		drop = append(drop, id)
	}
	slices.Sort(fetch)
	slices.Sort(drop)
	return fetch, drop
}

// Mismatch is one table whose checksums differ.
type Mismatch struct {
	Table   string `json:"table"`
	Buckets []int  `json:"buckets"`
}

// Compare matches tables by name and returns those that differ, sorted by
// name. A table present on one side only differs in every non-empty bucket.
func Compare(replica, hub []*Table) []Mismatch {
	byName := func(ts []*Table) map[string]*Table {
		m := make(map[string]*Table, len(ts))
		for _, t := range ts {
			m[t.Name] = t
		}
		return m
	}
	r, h := byName(replica), byName(hub)
	var out []Mismatch
	for name := range union(r, h) {
		a, b := r[name], h[name]
		if a == nil {
			a = New(name)
		}
		if b == nil {
			b = New(name)
		}
		if d := Diff(a, b); len(d) > 0 {
			out = append(out, Mismatch{Table: name, Buckets: d})
		}
	}
	slices.SortFunc(out, func(x, y Mismatch) int { return strings.Compare(x.Table, y.Table) })
	return out
}

func union(a, b map[string]*Table) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// wire is the JSON form of a Table.
type wire struct {
	Table   string   `json:"table"`
	Count   uint64   `json:"count"`
	Digest  string   `json:"digest"`
	Buckets []string `json:"buckets"` // Buckets entries "count:sum", sum in hex
}

// MarshalJSON writes {"table","count","digest","buckets":["count:sumhex",…]}.
func (t *Table) MarshalJSON() ([]byte, error) {
	w := wire{Table: t.Name, Count: t.Count(), Digest: t.Digest(), Buckets: make([]string, Buckets)}
	for i, b := range t.Buckets {
		w.Buckets[i] = strconv.FormatUint(b.Count, 10) + ":" + strconv.FormatUint(b.Sum, 16)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the MarshalJSON form and checks its digest.
func (t *Table) UnmarshalJSON(data []byte) error {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if len(w.Buckets) != Buckets {
		return fmt.Errorf("checksum: %d buckets, want %d", len(w.Buckets), Buckets)
	}
	u := Table{Name: w.Table}
	for i, s := range w.Buckets {
		c, sum, ok := strings.Cut(s, ":")
		n, err1 := strconv.ParseUint(c, 10, 64)
		x, err2 := strconv.ParseUint(sum, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("checksum: bad bucket %q", s)
		}
		u.Buckets[i] = Bucket{Count: n, Sum: x}
	}
	if w.Digest != "" && w.Digest != u.Digest() {
		return fmt.Errorf("checksum: digest mismatch for %s", w.Table)
	}
	*t = u
	return nil
}
