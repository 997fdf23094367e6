package syncsvc

import (
	"context"

	"dotmac.dev/field/sync/change"
)

// answerAgain returns again the results of an upload batch applied before (its seq is at or
// before the device's cursor), to publish again. A hub stopped after committing a batch and
// before publishing its results would otherwise leave the device waiting for answers until it
// re-sends (ResendAfter, minutes later). Applying the batch again changes nothing: every change
// replays the result recorded for its client_ref. A batch that does not decode was parked and
// answered then (no results).
func (s *Service) answerAgain(ctx context.Context, dev *applierDevice, seq uint64, data []byte) ([]MutationResult, error) {
	b, err := change.Decode(data)
	if err != nil {
		return nil, nil
	}
	return s.applyBatch(ctx, dev, seq, b)
}
