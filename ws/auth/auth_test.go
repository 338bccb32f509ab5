package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestLegacyTokenVector(t *testing.T) {
	// nethcti-protocol.md §3.1 and §3.3.
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
	secret := []byte("k")
	now := time.Unix(1_700_000_000, 0)
	good, err := SignJWT("alice", secret, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeJWT(good) || LooksLikeJWT("f2bc9e0336736016193ec6ef017cc0d3e3f08beb") {
		t.Fatal("LooksLikeJWT")
	}
	expired, _ := SignJWT("alice", secret, -time.Minute, now)
	otherKey, _ := SignJWT("alice", []byte("other"), time.Hour, now)
	noID, _ := SignJWT("", secret, time.Hour, now)
	// alg none
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6ImFsaWNlIiwiZXhwIjo5OTk5OTk5OTk5fQ."
	tests := []struct {
		name  string
		token string
		user  string
	}{
		{"valid", good, "alice"},
		{"expired", expired, ""},
		{"wrong key", otherKey, ""},
		{"no id", noID, ""},
		{"alg none", none, ""},
		{"garbage", "a.b.c", ""},
	}
	for _, tt := range tests {
		user, err := VerifyJWT(tt.token, secret, now)
		if tt.user == "" {
			if !errors.Is(err, ErrJWT) {
				t.Errorf("%s: err = %v, want ErrJWT", tt.name, err)
			}
			continue
		}
		if err != nil || user != tt.user {
			t.Errorf("%s: %q, %v", tt.name, user, err)
		}
	}
	if _, err := VerifyJWT(good, nil, now); err == nil {
		t.Error("empty secret accepted")
	}
}
