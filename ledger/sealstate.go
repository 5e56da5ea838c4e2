package ledger

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"github.com/shopspring/decimal"
)

// A seal also records the sealed state: the balance and posting count of
// every account over the postings of all sealed entries, so that a later
// verify can start from it instead of from the first posting.
//
//	balances = LtHash16 over the set of (account, currency, balance with two
//	           decimals, postings) of the sealed balances: the lane-wise sum,
//	           modulo 2^16, of 1,024 lanes drawn from each row: the AES-256-CTR
//	           key stream (zero IV) under the key H("sealed-balance/1",
//	           account, currency, balance, postings)
//	state    = H("seal-state/1", previous seal's state (empty before the
//	           first sealed state), seq, seal hash, postings the seal
//	           covers, balances)
//
// The balances digest is a homomorphic set hash: a seal updates it with the
// rows of the accounts it touches only (remove the old row, add the new
// one), and verify recomputes it from the rows in any order and pages. It
// resists forgery as the lattice problem under LtHash does (Bellare and
// Micciancio; Lewi et al., 2019); the state hash chains it to the seal.

// balanceLanes is the number of 16-bit lanes of a BalancesDigest.
const balanceLanes = 1024

// BalancesDigestSize is the size in bytes of an encoded BalancesDigest.
const BalancesDigestSize = 2 * balanceLanes

// BalancesDigest is the set hash of the sealed balances; its zero value is
// the digest of no rows.
type BalancesDigest struct{ lanes [balanceLanes]uint16 }

// ParseBalancesDigest reads a digest as Bytes wrote it; an empty slice is
// the digest of no rows.
func ParseBalancesDigest(b []byte) (BalancesDigest, error) {
	var d BalancesDigest
	if len(b) == 0 {
		return d, nil
	}
	if len(b) != BalancesDigestSize {
		return d, fmt.Errorf("balances digest: %d bytes, want %d", len(b), BalancesDigestSize)
	}
	for i := range d.lanes {
		d.lanes[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return d, nil
}

// Bytes encodes the digest.
func (d *BalancesDigest) Bytes() []byte {
	b := make([]byte, BalancesDigestSize)
	for i, l := range d.lanes {
		binary.LittleEndian.PutUint16(b[2*i:], l)
	}
	return b
}

// Equal says whether the two digests are the same.
func (d *BalancesDigest) Equal(o *BalancesDigest) bool { return d.lanes == o.lanes }

// Add puts one sealed balance row into the set.
func (d *BalancesDigest) Add(account, currency string, balance decimal.Decimal, postings int64) {
	e := balanceElement(account, currency, balance, postings)
	for i := range d.lanes {
		d.lanes[i] += binary.LittleEndian.Uint16(e[2*i:])
	}
}

// Remove takes one sealed balance row out of the set.
func (d *BalancesDigest) Remove(account, currency string, balance decimal.Decimal, postings int64) {
	e := balanceElement(account, currency, balance, postings)
	for i := range d.lanes {
		d.lanes[i] -= binary.LittleEndian.Uint16(e[2*i:])
	}
}

// Merge adds the rows of o to d.
func (d *BalancesDigest) Merge(o *BalancesDigest) {
	for i := range d.lanes {
		d.lanes[i] += o.lanes[i]
	}
}

// balanceElement draws a row's 1,024 lanes: AES-256 in counter mode, keyed
// by the SHA-256 of the row's encoding, as an extendable-output hash.
func balanceElement(account, currency string, balance decimal.Decimal, postings int64) *[BalancesDigestSize]byte {
	h := newHasher("sealed-balance/1")
	h.str(account)
	h.str(currency)
	h.str(balance.StringFixed(2))
	h.int(postings)
	key := h.sum()
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	var out [BalancesDigestSize]byte
	var iv [aes.BlockSize]byte
	cipher.NewCTR(block, iv[:]).XORKeyStream(out[:], out[:])
	return &out
}

// SealStateHash chains the sealed state of seal seq to the previous one.
func SealStateHash(prevState []byte, seq int64, sealHash []byte, postings int64, balances []byte) []byte {
	h := newHasher("seal-state/1")
	h.bytes(prevState)
	h.int(seq)
	h.bytes(sealHash)
	h.int(postings)
	h.bytes(balances)
	return h.sum()
}
