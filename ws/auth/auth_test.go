package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestLegacyTokenVector(t *testing.T) {
	// docs/protocol.md, section 2.2 (the token is computed by the client).
	got := LegacyToken("alice", "s3cret!", "6e4fed102e96e9f408d53ebfab889c5ded22acb3")
	if got != "f2bc9e0336736016193ec6ef017cc0d3e3f08beb" {
		t.Fatalf("token = %s", got)
	}
	sum := sha256.Sum256([]byte(got))
	if b := base64.StdEncoding.EncodeToString(sum[:]); b != "kb+B15MPif8uqdFx5Je/qROrO4sYQKl1yoxanrdSTa0=" {
		t.Fatalf("persistent hash = %s", b)
	}
}

func TestNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if len(a) != 40 || a == b {
		t.Fatalf("nonces %q %q", a, b)
	}
}

func TestHtpasswd(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := "# comment\n\nAlice:" + string(hash) + "\n"
	h, err := ParseHtpasswd([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw string
		ok       bool
	}{
		{"alice", "pw1", true},
		{"ALICE", "pw1", true},
		{"alice", "pw2", false},
		{"bob", "pw1", false},
		{"alice", "", false},
	}
	for _, tt := range tests {
		if got := h.Check(tt.user, tt.pw); got != tt.ok {
			t.Errorf("Check(%q,%q) = %v", tt.user, tt.pw, got)
		}
	}
	for _, bad := range []string{"nocolon\n", "bob:{SHA}abc\n", ":$2y$10$x\n", "bob:$2y$xx\n"} {
		if _, err := ParseHtpasswd([]byte(bad)); err == nil {
			t.Errorf("ParseHtpasswd(%q) accepted", bad)
		}
	}
	var nilH *Htpasswd
	if nilH.Check("a", "b") {
		t.Error("nil htpasswd accepted a password")
	}
}

func TestJWT(t *testing.T) {
	secret, previous := []byte("k"), []byte("old")
	now := time.Unix(1_700_000_000, 0)
	sign := func(claims map[string]any, key []byte) string {
		t.Helper()
		tok, err := SignJWTClaims(claims, key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"id": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	good, err := SignJWT("alice", "t1", secret, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeJWT(good) || LooksLikeJWT("f2bc9e0336736016193ec6ef017cc0d3e3f08beb") {
		t.Fatal("LooksLikeJWT")
	}
	expired, _ := SignJWT("alice", "t1", secret, -time.Minute, now)
	otherKey, _ := SignJWT("alice", "t1", []byte("other"), time.Hour, now)
	rotated, _ := SignJWT("alice", "t1", previous, time.Hour, now)
	noID, _ := SignJWT("", "t1", secret, time.Hour, now)
	otherTenant, _ := SignJWT("alice", "t2", secret, time.Hour, now)
	tooLong, _ := SignJWT("alice", "t1", secret, 25*time.Hour, now)
	// alg none
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6ImFsaWNlIiwiZXhwIjo5OTk5OTk5OTk5fQ."
	tests := []struct {
		name  string
		token string
		want  error // nil: accepted for alice
	}{
		{"valid, minted by ctiws", good, nil},
		{"valid, signed with the previous secret", rotated, nil},
		{"middleware token without aud", sign(base(nil), secret), nil},
		{"middleware integration aud", sign(base(map[string]any{"aud": "phone-island"}), secret), nil},
		{"aud list with this tenant", sign(base(map[string]any{"aud": []string{"x", "ctiws:t1"}}), secret), nil},
		{"2fa verified", sign(base(map[string]any{"2fa": true, "otp_verified": true}), secret), nil},
		{"2fa off", sign(base(map[string]any{"2fa": false}), secret), nil},
		{"expired", expired, ErrJWT},
		{"wrong key", otherKey, ErrJWT},
		{"no id", noID, ErrJWT},
		{"alg none", none, ErrJWT},
		{"garbage", "a.b.c", ErrJWT},
		{"other tenant", otherTenant, ErrJWTAudience},
		{"aud list with another tenant only", sign(base(map[string]any{"aud": []string{"phone-island", "ctiws:t2"}}), secret), ErrJWTAudience},
		{"lifetime over the maximum", tooLong, ErrJWTLifetime},
		{"no iat", sign(map[string]any{"id": "alice", "exp": now.Add(time.Hour).Unix()}, secret), ErrJWTLifetime},
		{"2fa without otp_verified", sign(base(map[string]any{"2fa": true}), secret), ErrJWT2FA},
		{"2fa with otp_verified false", sign(base(map[string]any{"2fa": true, "otp_verified": false}), secret), ErrJWT2FA},
		{"iat in the future (no skew here)", sign(base(map[string]any{"iat": now.Add(time.Second).Unix()}), secret), ErrJWTFuture},
		{"iat a year ahead", sign(base(map[string]any{"iat": now.AddDate(1, 0, 0).Unix(), "exp": now.AddDate(1, 0, 0).Add(time.Hour).Unix()}), secret), ErrJWTFuture},
		{"iat far beyond any date", sign(base(map[string]any{"iat": 1e300}), secret), ErrJWTFuture},
		{"nbf in the future", sign(base(map[string]any{"nbf": now.Add(time.Second).Unix()}), secret), ErrJWTFuture},
		{"nbf now", sign(base(map[string]any{"nbf": now.Unix()}), secret), nil},
		{"2fa as a string", sign(base(map[string]any{"2fa": "true"}), secret), ErrJWTClaimType},
		{"otp_verified as a number", sign(base(map[string]any{"2fa": true, "otp_verified": 1}), secret), ErrJWTClaimType},
		{"exp as a string", sign(base(map[string]any{"exp": "9999999999"}), secret), ErrJWTClaimType},
		{"aud as an object", sign(base(map[string]any{"aud": map[string]any{}}), secret), ErrJWTClaimType},
	}
	p := JWTPolicy{Secrets: [][]byte{secret, previous}, Tenant: "t1", MaxLifetime: 24 * time.Hour, Now: now}
	for _, tt := range tests {
		c, err := VerifyJWT(tt.token, p)
		if tt.want != nil {
			if !errors.Is(err, ErrJWT) || !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || c.User != "alice" || !c.IssuedAt.Equal(now) {
			t.Errorf("%s: %+v, %v", tt.name, c, err)
		}
	}
	if _, err := VerifyJWT(good, JWTPolicy{Tenant: "t1", Now: now}); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestHtpasswdDummyCost(t *testing.T) {
	// An unknown user must cost a bcrypt check of the file's own cost
	// (htpasswd -B uses cost 5 by default; a fixed cost-10 dummy would make
	// unknown users 30 times slower than wrong passwords).
	for _, cost := range []int{bcrypt.MinCost, 5, 10} {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHtpasswd([]byte("alice:" + string(hash) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.DummyCost(); got != cost {
			t.Errorf("dummy cost = %d, want the file's %d", got, cost)
		}
		if h.Check("mallory", "ctiws-dummy-"+strconv.Itoa(cost)+"-never-a-password") {
			t.Errorf("cost %d: an unknown user got in with the dummy's password", cost)
		}
	}
}

func TestHtpasswdChanges(t *testing.T) {
	mk := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	old, err := ParseHtpasswd([]byte("alice:" + a + "\nbob:" + b + "\ncarol:" + c + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	next, err := ParseHtpasswd([]byte("Alice:" + a + "\nbob:" + mk("b2") + "\ndave:" + mk("d") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ChangedUsers(old, next); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("ChangedUsers = %v, want [bob carol]", got)
	}
	fo, fn := old.Fingerprints(), next.Fingerprints()
	if fo["alice"] != fn["alice"] || fo["bob"] == fn["bob"] || len(fn) != 3 || fn["dave"] == "" {
		t.Errorf("fingerprints: old %v next %v", fo, fn)
	}
}
