// Package auth implements NethCTI's authentication primitives: the legacy
// nonce/HMAC-SHA1 token (docs/protocol.md, section 2.2), bcrypt htpasswd files,
// HS256 JWTs as issued by nethcti-middleware, and the hash under which
// tokens are stored (tokens are never stored or logged in clear).
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// LegacyToken computes hex(HMAC-SHA1(key=password, msg=user:password:nonce)).
func LegacyToken(user, password, nonce string) string {
	m := hmac.New(sha1.New, []byte(password))
	m.Write([]byte(user + ":" + password + ":" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// NewNonce returns 40 hex characters: SHA-1 of random bytes and the time.
func NewNonce() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("auth: crypto/rand failed: %v", err)) // cannot happen on Linux
	}
	h := sha1.New()
	h.Write(b[:])
	h.Write([]byte(time.Now().String()))
	return hex.EncodeToString(h.Sum(nil))
}

// HashToken returns the form under which a token is stored: hex(SHA-256).
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}
