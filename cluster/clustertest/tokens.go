package clustertest

import (
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func tokenCases() []Case {
	return []Case{
		{"tokens/put-check-delete", testTokensBasic},
		{"tokens/ttl-expiry", testTokensExpiry},
		{"tokens/sliding", testTokensSliding},
		{"tokens/persistent", testTokensPersistent},
	}
}

func mustCheck(t *testing.T, tk cluster.Tokens, tenant, user, hash string, ttl time.Duration, want bool) {
	t.Helper()
	ok, err := tk.Check(Ctx(t), tenant, user, hash, ttl)
	if err != nil {
		t.Fatalf("Check(%s,%s,%s): %v", tenant, user, hash, err)
	}
	if ok != want {
		t.Fatalf("Check(%s,%s,%s) = %v, want %v", tenant, user, hash, ok, want)
	}
}

func testTokensBasic(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ta, tb := Unique("ta"), Unique("tb")
	if err := b.Tokens.Put(ctx, ta, "alice", "h1", time.Minute); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ta, "alice", "h1", time.Minute, true)
	mustCheck(t, b.Tokens, ta, "alice", "h2", time.Minute, false)
	mustCheck(t, b.Tokens, ta, "bob", "h1", time.Minute, false)
	mustCheck(t, b.Tokens, tb, "alice", "h1", time.Minute, false) // tenant isolation
	if err := b.Tokens.Put(ctx, tb, "alice", "h1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Tokens.Delete(ctx, ta, "alice", "h1"); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ta, "alice", "h1", time.Minute, false)
	mustCheck(t, b.Tokens, tb, "alice", "h1", time.Minute, true)
	if err := b.Tokens.Delete(ctx, ta, "nobody", "none"); err != nil {
		t.Fatalf("Delete of a missing token: %v", err)
	}
}

func testTokensExpiry(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "alice", "h", 0, true) // ttl 0 on Check: no slide
	time.Sleep(500 * time.Millisecond)
	mustCheck(t, b.Tokens, ten, "alice", "h", 200*time.Millisecond, false)
}

func testTokensSliding(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	const ttl = 600 * time.Millisecond
	if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", ttl); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 2*ttl {
		time.Sleep(ttl / 4)
		mustCheck(t, b.Tokens, ten, "alice", "h", ttl, true)
	}
	time.Sleep(2 * ttl)
	mustCheck(t, b.Tokens, ten, "alice", "h", ttl, false)
}

func testTokensPersistent(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", 0); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "alice", "h", 100*time.Millisecond, true)
	time.Sleep(300 * time.Millisecond)
	mustCheck(t, b.Tokens, ten, "alice", "h", 100*time.Millisecond, true)
	// A persistent token that is re-put with a TTL becomes expiring.
	if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	mustCheck(t, b.Tokens, ten, "alice", "h", 0, false)
}
