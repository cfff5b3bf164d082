package keyward

import (
	"context"
	"fmt"
	"time"
)

// DefaultDeletedKeyRetention is how long a deleted key's record is kept by
// default: 30 days, as Google Cloud keeps a deleted API key.
const DefaultDeletedKeyRetention = 30 * 24 * time.Hour

// pruneBatch bounds one prune transaction, so that it never holds the
// store's locks for long.
const pruneBatch = 1000

// PruneDeletedKeys removes for good the records of keys deleted more than
// DeletedKeyRetention ago, a batch at a time, and returns how many it
// removed. Until then a deleted key's id and secret hash are not reused.
func (s *Service) PruneDeletedKeys(ctx context.Context) (int, error) {
	retention := s.DeletedKeyRetention
	if retention <= 0 {
		retention = DefaultDeletedKeyRetention
	}
	cut := s.Now().Add(-retention)
	total := 0
	for {
		n, err := write(ctx, s, func(ctx context.Context) (int, error) { return s.store.PruneDeletedKeys(ctx, cut, pruneBatch) })
		total += n
		if err != nil {
			return total, fmt.Errorf("prune deleted keys: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

// RunPruning calls PruneDeletedKeys as it starts and then every interval,
// until ctx is done. report, if not nil, hears each run's outcome.
func (s *Service) RunPruning(ctx context.Context, interval time.Duration, report func(n int, err error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := s.PruneDeletedKeys(ctx)
		if ctx.Err() != nil {
			return
		}
		if report != nil {
			report(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
