package sqlstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ofii/allowances/ledger"
)

// sealChain is where the check of the seal chain stands between pages.
type sealChain struct {
	n        int64  // seals checked, numbered 1 to n
	prev     []byte // hash of seal n
	state    []byte // state hash of the last seal that records one
	stateful bool   // a seal up to n records its sealed state
	stopped  bool   // a seal is missing: the chain cannot be followed
}

// sealPages checks each seal, up to the last one when Verify started, page
// by page: that it chains to the previous seal and that its state hash
// chains its sealed state to the previous one's; when full, it also
// recomputes the seal from the stored entry hashes (themselves checked by
// verifyHashes). Then it checks the seal head read at the start against
// the last seal.
func (v *verifier) sealPages(ctx context.Context, rep *ledger.VerifyReport) error {
	chain := sealChain{prev: []byte{}, state: []byte{}}
	for chain.n < v.maxSeal && !chain.stopped {
		var next sealChain
		_, err := v.read(ctx, rep, func(ctx context.Context, tx pgx.Tx, out *pageOut) error {
			next = chain
			return v.verifySeals(ctx, tx, &next, out)
		})
		if err != nil {
			return fmt.Errorf("seals after %d: %w", chain.n, err)
		}
		chain = next
	}
	if chain.stopped {
		return nil
	}
	if v.headSeq != chain.n || string(v.headHash) != string(chain.prev) || string(v.headState) != string(chain.state) {
		v.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: v.headSeq, Detail: "the seal head does not match the last seal"})
	}
	return nil
}

// verifySeals checks the page of seals after chain.n: at most v.page
// seals, fewer when they cover more than v.page entries, unless the page
// holds one seal only.
func (v *verifier) verifySeals(ctx context.Context, tx pgx.Tx, chain *sealChain, out *pageOut) error {
	rows, err := tx.Query(ctx, `SELECT seq, prev_hash, hash, entry_count, posting_count, balances_hash, state_hash FROM seals WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
		chain.n, v.maxSeal, v.page)
	if err != nil {
		return err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealRow, error) {
		var s sealRow
		return s, r.Scan(&s.seq, &s.prev, &s.hash, &s.count, &s.postings, &s.balances, &s.state)
	})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		// The seals counted at the start are gone.
		out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: chain.n + 1, Detail: fmt.Sprintf("seal %d is missing", chain.n+1)})
		chain.stopped = true
		return nil
	}
	seals, covered := all[:0], int64(0)
	for _, s := range all {
		if v.full && len(seals) > 0 && covered+s.count > int64(v.page) {
			break
		}
		seals = append(seals, s)
		covered += s.count
	}
	hashes := func(*sealRow) ([]byte, int64, error) { return nil, 0, nil }
	if v.full {
		ents, err := tx.Query(ctx, `SELECT seal_seq, id, entry_hash FROM entries WHERE seal_seq > $1 AND seal_seq <= $2 ORDER BY seal_seq, posted_at, id`,
			chain.n, seals[len(seals)-1].seq)
		if err != nil {
			return err
		}
		defer ents.Close()
		var (
			pending bool
			eseq    int64
			eid     uuid.UUID
			ehash   []byte
		)
		next := func() (bool, error) {
			if !ents.Next() {
				return false, ents.Err()
			}
			return true, ents.Scan(&eseq, &eid, &ehash)
		}
		if pending, err = next(); err != nil {
			return err
		}
		hashes = func(s *sealRow) ([]byte, int64, error) {
			h := ledger.NewSealHasher(s.prev, s.seq)
			for pending && eseq <= s.seq {
				if eseq == s.seq {
					h.Add(eid, ehash)
				}
				if pending, err = next(); err != nil {
					return nil, 0, err
				}
			}
			sum, n := h.Sum()
			return sum, n, nil
		}
	}
	for i := range seals {
		s := &seals[i]
		if s.seq != chain.n+1 {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("seal %d is missing", chain.n+1)})
			chain.stopped = true
			return nil
		}
		if string(s.prev) != string(chain.prev) {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: "does not chain to the previous seal"})
		}
		if v.full {
			sum, n, err := hashes(s)
			if err != nil {
				return err
			}
			if n != s.count || string(sum) != string(s.hash) {
				out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: fmt.Sprintf("covers %d entries whose hashes do not chain to the seal (sealed %d)", n, s.count)})
			}
		}
		checkSealState(chain, s, out)
		chain.n, chain.prev = s.seq, s.hash
	}
	return nil
}

// sealRow is a seal as stored; a seal made before sealed states has no
// postings, balances or state.
type sealRow struct {
	seq, count                  int64
	postings                    *int64
	prev, hash, balances, state []byte
}

// checkSealState checks that seal s's state hash chains its sealed state
// to the previous one's, and that no seal after one that records its state
// lacks one.
func checkSealState(chain *sealChain, s *sealRow, out *pageOut) {
	if s.state == nil {
		if chain.stateful {
			out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: "records no sealed state, though an earlier seal does"})
		}
		return
	}
	var postings int64
	if s.postings != nil {
		postings = *s.postings
	}
	if string(ledger.SealStateHash(chain.state, s.seq, s.hash, postings, s.balances)) != string(s.state) {
		out.found.add(checkSeals, ledger.Problem{Kind: "seal", Seal: s.seq, Detail: "its sealed state does not chain to the previous seal's"})
	}
	chain.state, chain.stateful = s.state, true
}
