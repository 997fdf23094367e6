package syncsvc

import "context"

// RelayFull re-reads every family of the jobs roots for their technicians, as a pass of events
// that may move scope does, and returns how many changes it published: zero when the feeds
// already carry everything (what the relay's narrowed passes must leave behind).
func (s *Service) RelayFull(ctx context.Context, roots []string) (int64, error) {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	before := s.relayed.Load()
	err := s.relayRoots(ctx, s.activeBindings(ctx), roots, nil)
	return s.relayed.Load() - before, err
}

// RefreshLag refreshes the per-device lag gauges now (runLagLoop does every 10 s).
func (s *Service) RefreshLag(ctx context.Context) { s.refreshLag(ctx) }
