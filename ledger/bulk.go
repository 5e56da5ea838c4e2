package ledger

// BulkEntry is one entry of many lines (a monthly run's hundreds of
// thousands of beneficiary lines), written in chunks of ChunkSize lines, each
// chunk in its own transaction and balanced on its own by one aggregated
// line on the Contra account: the hot account is touched once per chunk.
//
// The entry stays "open" until its last chunk is written, then becomes
// "posted" and is sealed. Calling PostBulk again with the same idempotency
// key and the same lines resumes an interrupted entry where it stopped, or
// returns the posted entry; other lines are a conflict.
type BulkEntry struct {
	IdempotencyKey string            `json:"idempotency_key"`
	EffectiveDate  Date              `json:"effective_date"`
	Description    string            `json:"description"`
	SourceRef      string            `json:"source_ref,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// Contra balances each chunk: its line is minus the sum of the chunk's
	// lines (per currency, so Contra's currency must be theirs).
	Contra string `json:"contra"`
	// ContraMemo is the memo of the contra lines.
	ContraMemo string `json:"contra_memo,omitempty"`
	// ChunkSize is the number of lines per transaction; 0 means 10,000.
	ChunkSize int `json:"chunk_size,omitempty"`
	// Lines yields the lines in order, stopping at the first error that
	// yield returns. It is called twice: once to check every line before
	// anything is written, so that bad input applies nothing, and once to
	// write them; both calls must yield the same lines.
	Lines func(yield func(Line) error) error `json:"-"`
	// Progress, when set, is told the number of lines written so far after
	// each chunk.
	Progress func(lines int64) `json:"-"`
}
