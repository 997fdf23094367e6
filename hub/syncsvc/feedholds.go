package syncsvc

import "context"

// feedHolds reports whether the downstream feed still holds every batch after cursor, so that a
// device bootstrapped from a snapshot taken at cursor can catch up from the feed. A recent
// snapshot is handed out again only then: one older than what retention kept would have the
// device find its cursor expired, reset and ask again, in a loop, until the snapshot aged out.
func (s *Service) feedHolds(ctx context.Context, cursor uint64) bool {
	if s.down == nil {
		return false
	}
	first, err := s.down.First(ctx)
	return err == nil && uint64(first) <= cursor+1
}
