package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The hashes that make the ledger tamper-evident. Each is SHA-256 over a
// length-prefixed encoding of its fields, so that no two different contents
// share an encoding:
//
//	header  = H("entry-header/1", key, kind, effective date, description,
//	            source ref, metadata (sorted), reverses, contra)
//	chunk   = H("chunk/1", chunk no, first line, then per line:
//	            line no, account, amount with two decimals, currency, memo)
//	content = H("entry/1", header, chunk hashes in order)
//	entry   = H("entry-posted/1", id, posting time, content)
//	seal    = H("seal/1", previous seal hash, seq, count, then per entry:
//	            id, entry hash)
//
// The content hash does not depend on the entry's id or posting time, so a
// request posted twice under one idempotency key can be compared with the
// first; the entry hash binds both, and seals chain entry hashes.

type hasher struct{ h hash.Hash }

func newHasher(domain string) *hasher {
	h := &hasher{sha256.New()}
	h.str(domain)
	return h
}

func (h *hasher) bytes(b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.h.Write(n[:])
	h.h.Write(b)
}

func (h *hasher) str(s string) { h.bytes([]byte(s)) }

func (h *hasher) int(v int64) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(v))
	h.h.Write(n[:])
}

func (h *hasher) sum() []byte { return h.h.Sum(nil) }

// HeaderHash hashes the header fields of an entry.
func HeaderHash(key string, kind EntryKind, date Date, description, sourceRef string, meta map[string]string, reverses *uuid.UUID, contra string) []byte {
	h := newHasher("entry-header/1")
	h.str(key)
	h.str(string(kind))
	h.str(date.String())
	h.str(description)
	h.str(sourceRef)
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h.int(int64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(meta[k])
	}
	if reverses != nil {
		h.bytes(reverses[:])
	} else {
		h.bytes(nil)
	}
	h.str(contra)
	return h.sum()
}

// ChunkHasher hashes the lines of one chunk as they are written.
type ChunkHasher struct{ h *hasher }

// NewChunkHasher starts the hash of chunk number chunk whose first line is
// numbered first.
func NewChunkHasher(chunk, first int64) *ChunkHasher {
	h := newHasher("chunk/1")
	h.int(chunk)
	h.int(first)
	return &ChunkHasher{h}
}

// Add hashes one line; currency must be resolved and the amount valid.
func (c *ChunkHasher) Add(line int64, account, amount2dp, currency, memo string) {
	c.h.int(line)
	c.h.str(account)
	c.h.str(amount2dp)
	c.h.str(currency)
	c.h.str(memo)
}

// Sum returns the chunk's hash.
func (c *ChunkHasher) Sum() []byte { return c.h.sum() }

// ContentHash combines the header hash and the chunk hashes.
func ContentHash(header []byte, chunks [][]byte) []byte {
	h := newHasher("entry/1")
	h.bytes(header)
	h.int(int64(len(chunks)))
	for _, c := range chunks {
		h.bytes(c)
	}
	return h.sum()
}

// EntryHash binds an entry's id and posting time to its content.
func EntryHash(id uuid.UUID, postedAt time.Time, content []byte) []byte {
	h := newHasher("entry-posted/1")
	h.bytes(id[:])
	h.str(postedAt.UTC().Format(time.RFC3339Nano))
	h.bytes(content)
	return h.sum()
}

// SealHasher chains entry hashes into a seal.
type SealHasher struct {
	h *hasher
	n int64
}

// NewSealHasher starts seal number seq after the seal whose hash is prev.
func NewSealHasher(prev []byte, seq int64) *SealHasher {
	h := newHasher("seal/1")
	h.bytes(prev)
	h.int(seq)
	return &SealHasher{h: h}
}

// Add chains one entry.
func (s *SealHasher) Add(id uuid.UUID, entryHash []byte) {
	s.h.bytes(id[:])
	s.h.bytes(entryHash)
	s.n++
}

// Sum returns the seal's hash and the number of entries it covers.
func (s *SealHasher) Sum() ([]byte, int64) {
	s.h.int(s.n)
	return s.h.sum(), s.n
}
