package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Htpasswd is a parsed Apache htpasswd file with bcrypt hashes.
type Htpasswd struct {
	hashes map[string][]byte // lower-cased user -> bcrypt hash
	// dummy is checked for unknown users: a bcrypt hash of a random
	// password with the cost most users of the file have, so an unknown
	// user costs the same time as a wrong password (no user enumeration by
	// timing).
	dummy []byte
}

// defaultDummyCost is the bcrypt cost of the dummy hash of a file without
// users.
const defaultDummyCost = bcrypt.DefaultCost

// dummyHashes are precomputed dummy hashes for the usual costs, so that
// parsing a file (at start and on every reload) costs no bcrypt run. Their
// password does not matter: an unknown user is refused whatever it types.
var dummyHashes = map[int]string{
	4:  "$2a$04$H1pWi6PxqwXV8kv9sOU2Pekr.hCYPcyKHCld21DDSGk6OPRLEULL6",
	5:  "$2a$05$G0O4tWMR0OxplwX9GiN7pOW0UIwHTfaUOcRSsgFHhxM6n3B2kpRs6",
	6:  "$2a$06$TY3qiVHTndZO.Y.1jTguSuZWzI7Uhylt./lOw0FLvQHFcgsu8STDq",
	7:  "$2a$07$YTe8t5uw5Oy0D9Q9OGA5qeOM1l3ZflADJ/Wt.SH0C1rnbbb.zDfyW",
	8:  "$2a$08$NiTTenTKImzkMgAKMmGSJeVp9/0IA62OYjxhRoc6sQ59ZS1YMJr1S",
	9:  "$2a$09$KznnA04dEL5tHOl3OcLwP.63UGCnos6GIYwqTnucp.u8DlihQNCHS",
	10: "$2a$10$RYoc8IyAWvGVBE8No3sZ6.nr2ZQNX4sGG2tyhbcBgPC1Bn490V0Pu",
	11: "$2a$11$Ym.3sXAubGfcWcwLn7l7uONStVYRpeIDeMiZr/D2HwmBfBzCDVSP2",
	12: "$2a$12$M5UcJQqB4G/FPXpQnRRzluGrZY2Tfjf67fSJ7UVTahtkDlTcklEcK",
	13: "$2a$13$VfYUMzYYnI.zGhWt008/QOjRbsiqILoTVgBA7fXDR4iY9tHMZNcze",
	14: "$2a$14$6XMnvI1SDTqWMwnEJbbwwebNtAHw29HttTQ/Cj5JiYHvw1PzqT2ai",
}

// dummyHash returns a bcrypt hash of the given cost (precomputed when
// possible).
func dummyHash(cost int) ([]byte, error) {
	if h, ok := dummyHashes[cost]; ok {
		return []byte(h), nil
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	return bcrypt.GenerateFromPassword(pw[:], cost)
}

// ParseHtpasswd parses "user:$2y$..." lines. Comments (#) and blank lines are
// skipped; any other hash type is an error naming the line.
func ParseHtpasswd(b []byte) (*Htpasswd, error) {
	h := &Htpasswd{hashes: map[string][]byte{}}
	costs := map[int]int{}
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
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("htpasswd line %d: user %q: %w", n, user, err)
		}
		costs[cost]++
		h.hashes[strings.ToLower(user)] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	dummyCost, most := defaultDummyCost, 0
	for c, k := range costs {
		if k > most || k == most && c > dummyCost {
			dummyCost, most = c, k
		}
	}
	dummy, err := dummyHash(dummyCost)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: dummy hash: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

// Check reports whether password is right for user (case-insensitive name).
// An unknown user is checked against a dummy hash of the file's usual cost,
// so that the answer takes as long as for a wrong password.
func (h *Htpasswd) Check(user, password string) bool {
	if h == nil {
		return false
	}
	hash, ok := h.hashes[strings.ToLower(user)]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(h.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// DummyCost is the bcrypt cost an unknown user's check spends.
func (h *Htpasswd) DummyCost() int {
	c, _ := bcrypt.Cost(h.dummy)
	return c
}

// Fingerprints returns, for every user (lower-cased), a digest of the
// user's bcrypt hash: it changes exactly when the password is changed. It
// is what the cluster remembers to notice a password change (the bcrypt
// hash itself is never stored outside the file).
func (h *Htpasswd) Fingerprints() map[string]string {
	if h == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(h.hashes))
	for u, hash := range h.hashes {
		out[u] = fingerprint(hash)
	}
	return out
}

// Fingerprint returns the fingerprint (as Fingerprints) of one user's hash
// (case-insensitive name); false when the user is not in the file.
func (h *Htpasswd) Fingerprint(user string) (string, bool) {
	hash, ok := h.lookup(strings.ToLower(user))
	if !ok {
		return "", false
	}
	return fingerprint(hash), true
}

// fingerprint is 128 bits of the SHA-256 of a bcrypt hash, in hex.
func fingerprint(hash []byte) string {
	s := sha256.Sum256(hash)
	return hex.EncodeToString(s[:16])
}

// ChangedUsers returns the users (lower-cased, sorted) whose password was
// changed or who were removed between old and next.
func ChangedUsers(old, next *Htpasswd) []string {
	var out []string
	if old == nil {
		return nil
	}
	for u, hash := range old.hashes {
		if nh, ok := next.lookup(u); !ok || !bytes.Equal(nh, hash) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func (h *Htpasswd) lookup(user string) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	b, ok := h.hashes[user]
	return b, ok
}
