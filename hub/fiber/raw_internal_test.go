package fiber

import (
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rawTextArray reads PostgreSQL's binary text[]: values, NULLs, the empty array, and refuses
// truncated input instead of reading past it.
func TestRawTextArray(t *testing.T) {
	enc := func(elems ...*string) []byte {
		b := binary.BigEndian.AppendUint32(nil, 1) // ndim
		b = binary.BigEndian.AppendUint32(b, 1)    // has nulls
		b = binary.BigEndian.AppendUint32(b, 25)   // text
		b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
		b = binary.BigEndian.AppendUint32(b, 1) // lower bound
		for _, e := range elems {
			if e == nil {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(*e)))
			b = append(b, *e...)
		}
		return b
	}
	s := func(v string) *string { return &v }
	fd := pgconn.FieldDescription{Format: pgx.BinaryFormatCode, DataTypeOID: 1009}
	got, err := rawTextArray(nil, fd, enc(s("drop"), nil, s(""), s("12")), nil)
	if err != nil || len(got) != 4 || string(got[0]) != "drop" || got[1] != nil || got[2] == nil || len(got[2]) != 0 || string(got[3]) != "12" {
		t.Fatalf("got %q, %v", got, err)
	}
	empty := binary.BigEndian.AppendUint32(nil, 0)
	empty = binary.BigEndian.AppendUint32(empty, 0)
	empty = binary.BigEndian.AppendUint32(empty, 25)
	if got, err := rawTextArray(nil, fd, empty, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q %v", got, err)
	}
	full := enc(s("single_mode"))
	for cut := 0; cut < len(full); cut++ {
		if _, err := rawTextArray(nil, fd, full[:cut], nil); err == nil && cut < len(full) {
			t.Fatalf("truncated at %d accepted", cut)
		}
	}
}
