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

// Pruned counts what one Prune removed.
type Pruned struct {
	DeletedKeys        int // records of keys deleted longer ago than the retention
	IdempotencyRecords int // records of idempotent writes older than IdempotencyWindow
	AuditEvents        int // audit events older than the audit retention
	UsageHours         int // keys' hourly verification counts older than the usage retention
}

// Prune removes for good what is no longer kept, a batch at a time: the
// records of keys deleted more than DeletedKeyRetention ago (until then a
// deleted key's id and secret hash are not reused) and the records of
// idempotent writes past their window, audit events older than
// AuditRetention, and keys' hourly verification counts of hours older than
// UsageRetention.
func (s *Service) Prune(ctx context.Context) (Pruned, error) {
	retention := s.DeletedKeyRetention
	if retention <= 0 {
		retention = DefaultDeletedKeyRetention
	}
	now := s.Now()
	var p Pruned
	var err error
	p.DeletedKeys, err = s.pruneBatches(ctx, func(ctx context.Context) (int, error) {
		return s.store.PruneDeletedKeys(ctx, now.Add(-retention), pruneBatch)
	})
	if err != nil {
		return p, fmt.Errorf("prune deleted keys: %w", err)
	}
	p.IdempotencyRecords, err = s.pruneBatches(ctx, func(ctx context.Context) (int, error) {
		return s.store.PruneIdempotencyRecords(ctx, now, pruneBatch)
	})
	if err != nil {
		return p, fmt.Errorf("prune idempotency records: %w", err)
	}
	auditRetention := s.AuditRetention
	if auditRetention <= 0 {
		auditRetention = DefaultAuditRetention
	}
	p.AuditEvents, err = s.pruneBatches(ctx, func(ctx context.Context) (int, error) {
		return s.store.PruneAuditEvents(ctx, now.Add(-auditRetention), pruneBatch)
	})
	if err != nil {
		return p, fmt.Errorf("prune audit events: %w", err)
	}
	usageRetention := s.UsageRetention
	if usageRetention <= 0 {
		usageRetention = DefaultUsageRetention
	}
	p.UsageHours, err = s.pruneBatches(ctx, func(ctx context.Context) (int, error) {
		return s.store.PruneKeyUsage(ctx, now.Add(-usageRetention), pruneBatch)
	})
	if err != nil {
		return p, fmt.Errorf("prune key usage: %w", err)
	}
	return p, nil
}

// pruneBatches calls prune, each call under the write deadline, until a
// call removes less than a full batch, and returns the total removed.
func (s *Service) pruneBatches(ctx context.Context, prune func(ctx context.Context) (int, error)) (int, error) {
	total := 0
	for {
		n, err := write(ctx, s, prune)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// RunPruning calls Prune as it starts and then every interval, until ctx
// is done. report, if not nil, hears each run's outcome.
func (s *Service) RunPruning(ctx context.Context, interval time.Duration, report func(Pruned, error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		p, err := s.Prune(ctx)
		if ctx.Err() != nil {
			return
		}
		if report != nil {
			report(p, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
