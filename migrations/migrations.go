// Package migrations embeds the numbered SQL migrations of DotMac Field:
// postgres/NNNN_name.up.sql|down.sql for the hub and sqlite/NNNN_name.up.sql for the edge agent.
//
// Numbering: 0001–0009 core (people, auth, RBAC, audit), 0010–0019 work orders, field execution and
// dispatch, 0020–0029 inventory, fiber plant and surveys, 0030–0039 sync (devices, outbox, conflicts).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the hub's migrations.
func Postgres() fs.FS { sub, _ := fs.Sub(files, "postgres"); return sub }

// SQLite holds the edge agent's migrations.
func SQLite() fs.FS { sub, _ := fs.Sub(files, "sqlite"); return sub }

// Migration is one numbered step.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// Load reads and orders the migrations of one dialect, checking that versions are unique and that
// every up file has a down file (SQLite migrations may omit down).
func Load(fsys fs.FS, requireDown bool) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		name := e.Name()
		var dir string
		switch {
		case strings.HasSuffix(name, ".up.sql"):
			dir = "up"
		case strings.HasSuffix(name, ".down.sql"):
			dir = "down"
		default:
			continue
		}
		num, rest, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migrations: %s: want NNNN_name.%s.sql", name, dir)
		}
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: bad version: %w", name, err)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v, Name: strings.TrimSuffix(strings.TrimSuffix(rest, ".up.sql"), ".down.sql")}
			byVersion[v] = m
		}
		if dir == "up" {
			if m.Up != "" {
				return nil, fmt.Errorf("migrations: version %d has two up files", v)
			}
			m.Up = string(body)
		} else {
			m.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" {
			return nil, fmt.Errorf("migrations: version %d has no up file", m.Version)
		}
		if requireDown && m.Down == "" {
			return nil, fmt.Errorf("migrations: version %d has no down file", m.Version)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
