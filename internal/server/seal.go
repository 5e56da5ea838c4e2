package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/ofii/allowances/ledger"
)

// sealer seals the entries posted since the last seal.
type sealer interface {
	Seal(ctx context.Context, reason string) (*ledger.Seal, error)
}

// runSeal seals what was posted since the last seal every interval until
// ctx is done, so that verify, which starts from the last seal, reads at
// most an interval's postings beside the sealed state, and so that posting
// (a bulk entry of a million lines, a release's files) never waits for the
// seal. Two instances sealing at once take turns on the seal head; a seal
// that fails is tried again at the next tick, the entries waiting for it.
func runSeal(ctx context.Context, s sealer, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seal, err := s.Seal(ctx, "periodic seal")
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("sealing the ledger failed; the entries wait for the next seal", "error", err.Error())
		case err == nil && seal != nil:
			log.Info("ledger sealed", "seq", seal.Seq, "entries", seal.EntryCount)
		}
	}
}
