package syncsvc

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// uuidArray must encode in binary at once: pgx's fallback for []string builds an error message
// of the whole list first (see uuidArray).
func TestUUIDArray_EncodesBinary(t *testing.T) {
	m := pgtype.NewMap()
	ids := []string{"01a22986-c95c-7b68-8c6a-f56f739e22a2", "01a22986-c95c-7b68-8c6a-f56f739e22a3"}
	if _, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, uuidArray(ids), nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := uuidArray([]string{"not a uuid"}).([]string); !ok || len(got) != 1 {
		t.Fatalf("an id that does not parse is passed as text: %#v", got)
	}
}
