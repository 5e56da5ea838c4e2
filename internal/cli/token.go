package cli

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashToken returns the SHA-256 of an API token in lower-case hex, the form
// in which AUTH_TOKENS and AUTH_TOKENS_FILE hold tokens.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
