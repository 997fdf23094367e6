// Package hlc is a hybrid logical clock: physical wall time in milliseconds,
// a logical counter for events within one millisecond, and the node id as the
// final tie-break, so every timestamp in the system is unique and totally
// ordered, and causally later events always compare greater.
//
// Timestamps from other nodes are merged with Update, which refuses to let a
// remote clock drag the local one further than MaxDrift into the future.
package hlc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxDrift is how far ahead of the local physical clock a remote
// timestamp is believed.
const DefaultMaxDrift = time.Minute

// Timestamp is one reading of a hybrid logical clock. The zero value is
// before every other timestamp.
type Timestamp struct {
	Wall    int64  // milliseconds since the Unix epoch
	Logical uint32 // orders events within one Wall millisecond
	Node    string // the clock's node id: device id, or "hub"
}

// Compare returns -1, 0 or +1 as a is before, equal to or after b.
func Compare(a, b Timestamp) int {
	switch {
	case a.Wall != b.Wall:
		return cmp(a.Wall < b.Wall)
	case a.Logical != b.Logical:
		return cmp(a.Logical < b.Logical)
	case a.Node != b.Node:
		return cmp(a.Node < b.Node)
	}
	return 0
}

func cmp(less bool) int {
	if less {
		return -1
	}
	return 1
}

// Compare is the method form of Compare.
func (t Timestamp) Compare(u Timestamp) int { return Compare(t, u) }

// Before reports whether t is before u.
func (t Timestamp) Before(u Timestamp) bool { return Compare(t, u) < 0 }

// After reports whether t is after u.
func (t Timestamp) After(u Timestamp) bool { return Compare(t, u) > 0 }

// IsZero reports whether t is the zero timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall part as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Wall).UTC() }

// wallDigits is the fixed width of the hex wall part (enough until year 10889).
const wallDigits = 12

// String encodes t as "WWWWWWWWWWWW-LLLLLLLL-node": fixed-width lower-case hex
// wall and logical parts, then the node id. Byte-wise order of the strings is
// the order of Compare, so they sort correctly in SQL and in key-value stores.
// The zero timestamp encodes as "".
func (t Timestamp) String() string {
	if t.IsZero() {
		return ""
	}
	b, _ := t.AppendText(nil)
	return string(b)
}

// AppendText appends the String form of t to b.
func (t Timestamp) AppendText(b []byte) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	b = appendHex(b, uint64(t.Wall), wallDigits)
	b = append(b, '-')
	b = appendHex(b, uint64(t.Logical), 8)
	b = append(b, '-')
	return append(b, t.Node...), nil
}

func appendHex(b []byte, v uint64, width int) []byte {
	s := strconv.FormatUint(v, 16)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// MarshalText implements encoding.TextMarshaler (JSON carries the String form).
func (t Timestamp) MarshalText() ([]byte, error) { return t.AppendText(nil) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Timestamp) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// ErrSyntax is returned for a malformed encoded timestamp.
var ErrSyntax = errors.New("hlc: malformed timestamp")

// Parse decodes the String form; "" is the zero timestamp.
func Parse(s string) (Timestamp, error) {
	if s == "" {
		return Timestamp{}, nil
	}
	wall, rest, ok1 := strings.Cut(s, "-")
	logical, node, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || len(wall) != wallDigits || len(logical) != 8 {
		return Timestamp{}, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	w, err1 := strconv.ParseUint(wall, 16, 63)
	l, err2 := strconv.ParseUint(logical, 16, 32)
	if err1 != nil || err2 != nil || strings.ToLower(wall+logical) != wall+logical {
		return Timestamp{}, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	return Timestamp{Wall: int64(w), Logical: uint32(l), Node: node}, nil
}

// binaryHead is the size of the fixed part of the binary form.
const binaryHead = 12

// MarshalBinary encodes t as 8 bytes big-endian wall, 4 bytes big-endian
// logical, then the node id. Byte-wise order matches Compare.
func (t Timestamp) MarshalBinary() ([]byte, error) {
	return t.AppendBinary(make([]byte, 0, binaryHead+len(t.Node)))
}

// AppendBinary appends the binary form of t to b.
func (t Timestamp) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Wall))
	b = binary.BigEndian.AppendUint32(b, t.Logical)
	return append(b, t.Node...), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (t *Timestamp) UnmarshalBinary(b []byte) error {
	if len(b) < binaryHead || b[0]&0x80 != 0 {
		return fmt.Errorf("%w: %d bytes", ErrSyntax, len(b))
	}
	*t = Timestamp{
		Wall:    int64(binary.BigEndian.Uint64(b)),
		Logical: binary.BigEndian.Uint32(b[8:]),
		Node:    string(b[binaryHead:]),
	}
	return nil
}

// ErrDrift is wrapped by the *DriftError that Update reports.
var ErrDrift = errors.New("hlc: remote clock too far ahead")

// DriftError reports a remote timestamp that was clamped by Update.
type DriftError struct {
	Remote Timestamp
	Ahead  time.Duration // how far Remote was ahead of the local physical clock
	Max    time.Duration
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("hlc: remote %s (node %q) is %s ahead of the local clock, more than %s; clamped",
		e.Remote.Time().Format(time.RFC3339Nano), e.Remote.Node, e.Ahead, e.Max)
}

// Unwrap returns ErrDrift.
func (e *DriftError) Unwrap() error { return ErrDrift }

// Clock issues timestamps for one node. It is safe for concurrent use.
type Clock struct {
	// MaxDrift bounds how far a remote timestamp may pull this clock ahead of
	// its physical time. Set before first use; zero means DefaultMaxDrift.
	MaxDrift time.Duration
	// Physical reads the physical clock; nil means time.Now. For tests.
	Physical func() time.Time

	node string
	mu   sync.Mutex
	last Timestamp
}

// New returns a clock for node, which must be unique among the clocks whose
// timestamps are compared (a device id, or "hub").
func New(node string) *Clock { return &Clock{node: node} }

// Node returns the clock's node id.
func (c *Clock) Node() string { return c.node }

func (c *Clock) physical() int64 {
	if c.Physical != nil {
		return c.Physical().UnixMilli()
	}
	return time.Now().UnixMilli()
}

func (c *Clock) maxDrift() time.Duration {
	if c.MaxDrift > 0 {
		return c.MaxDrift
	}
	return DefaultMaxDrift
}

// Now returns a timestamp after every one this clock has issued or seen.
func (c *Clock) Now() Timestamp {
	pt := c.physical()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(pt, 0, 0)
	return c.last
}

// Update merges a timestamp received from another node and returns a new
// local timestamp after both. A remote more than MaxDrift ahead of the local
// physical clock is clamped to physical+MaxDrift: the returned timestamp is
// still valid and after every earlier one, and the error (a *DriftError
// wrapping ErrDrift) is only a report, for the caller to log or flag.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	pt := c.physical()
	max := c.maxDrift()
	var err error
	rw, rl := remote.Wall, remote.Logical
	if limit := pt + max.Milliseconds(); rw > limit {
		err = &DriftError{Remote: remote, Ahead: time.Duration(rw-pt) * time.Millisecond, Max: max}
		rw, rl = limit, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(pt, rw, rl)
	return c.last, err
}

// Observe moves the clock past t without issuing a timestamp, e.g. to restore
// the last timestamp persisted before a restart. It applies no drift bound.
func (c *Clock) Observe(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Wall < t.Wall || (c.last.Wall == t.Wall && c.last.Logical < t.Logical) {
		c.last.Wall, c.last.Logical = t.Wall, t.Logical
	}
}

// advance sets c.last to the smallest timestamp greater than both c.last and
// (rw, rl), with wall at least pt. c.mu must be held.
func (c *Clock) advance(pt, rw int64, rl uint32) {
	wall := max(pt, c.last.Wall, rw)
	var logical uint32
	switch {
	case wall == c.last.Wall && wall == rw:
		logical = max(c.last.Logical, rl)
	case wall == c.last.Wall:
		logical = c.last.Logical
	case wall == rw:
		logical = rl
	default:
		c.last = Timestamp{Wall: wall, Node: c.node}
		return
	}
	if logical == ^uint32(0) { // 4 billion events in one millisecond: borrow the next one
		wall, logical = wall+1, 0
	} else {
		logical++
	}
	c.last = Timestamp{Wall: wall, Logical: logical, Node: c.node}
}
