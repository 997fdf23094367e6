package inmem_test

import (
	"testing"

	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/changetest"
	"dotmac.dev/field/sync/inmem"
)

func TestFeed(t *testing.T) {
	changetest.Exercise(t, func(t *testing.T) change.Feed { return inmem.New() })
}
