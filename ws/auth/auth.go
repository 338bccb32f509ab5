// Package auth implements NethCTI's authentication primitives: the legacy
// nonce/HMAC-SHA1 token (nethcti-protocol.md §3.1), bcrypt htpasswd files,
// HS256 JWTs as issued by nethcti-middleware, and the hash under which
// tokens are stored (tokens are never stored or logged in clear).
package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
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

// Htpasswd is a parsed Apache htpasswd file with bcrypt hashes.
type Htpasswd struct {
	hashes map[string][]byte // lower-cased user -> bcrypt hash
}

// dummyHash makes a check for an unknown user cost as much as a real one.
var dummyHash = []byte("$2y$10$7EqJtq98hPqEX7fNZaFWoO5tR9/ia5d9R0dVd7f/5OzZ6/rL4a2xS")

// ParseHtpasswd parses "user:$2y$..." lines. Comments (#) and blank lines are
// skipped; any other hash type is an error naming the line.
func ParseHtpasswd(b []byte) (*Htpasswd, error) {
	h := &Htpasswd{hashes: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd line %d: want user:hash", n)
		}
		if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
			return nil, fmt.Errorf("htpasswd line %d: user %q: only bcrypt hashes ($2y$, htpasswd -B) are supported", n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("htpasswd line %d: user %q: %w", n, user, err)
		}
		h.hashes[strings.ToLower(user)] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	return h, nil
}

// Check reports whether password is right for user (case-insensitive name).
func (h *Htpasswd) Check(user, password string) bool {
	if h == nil {
		return false
	}
	hash, ok := h.hashes[strings.ToLower(user)]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// ErrJWT is wrapped by every JWT verification failure.
var ErrJWT = errors.New("auth: invalid JWT")

// LooksLikeJWT reports whether token has the three-part JWT shape.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

// VerifyJWT checks an HS256 JWT (signature, exp required) and returns its
// "id" claim, the user it was issued to.
func VerifyJWT(token string, secret []byte, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("%w: no secret configured", ErrJWT)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrJWT, err)
	}
	id, _ := claims["id"].(string)
	if id == "" {
		return "", fmt.Errorf("%w: no id claim", ErrJWT)
	}
	return id, nil
}

// SignJWT issues an HS256 JWT for user (used by tests and `ctiws token`).
func SignJWT(user string, secret []byte, ttl time.Duration, now time.Time) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"id":  user,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	})
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return s, nil
}
