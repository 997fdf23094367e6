package migrations

import "testing"

func TestLoad(t *testing.T) {
	pg, err := Load(Postgres(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || pg[0].Version != 1 {
		t.Fatalf("postgres migrations: %+v", pg)
	}
	if _, err := Load(SQLite(), false); err != nil {
		t.Fatal(err)
	}
}
