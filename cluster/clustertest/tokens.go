package clustertest

import (
	"slices"
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
		{"tokens/persistent-cap", testTokensPersistentCap},
		{"tokens/revoke-user", testTokensRevokeUser},
		{"tokens/jwt-deny", testTokensJWTDeny},
		{"tokens/jwt-not-before", testTokensJWTNotBefore},
		{"tokens/sync-passwords", testTokensSyncPasswords},
		{"tokens/sync-passwords-stale", testTokensSyncPasswordsStale},
		{"tokens/sync-passwords-removal", testTokensSyncPasswordsRemoval},
		{"tokens/put-issued", testTokensPutIssued},
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
	// Every check slides the expiry: checks ttl/4 apart keep the token
	// alive for 2×ttl. The gap that matters is between the moments the
	// backend ran two checks; its upper bound is from sending the one to
	// the other's answer. When that bound passes 3/4 ttl because the
	// machine stalled, an expired token proves nothing (it may rightly have
	// expired), so the slide starts over.
	sent := time.Now()
	if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", ttl); err != nil {
		t.Fatal(err)
	}
	slid := time.Duration(0)
	deadline := time.Now().Add(30 * ttl)
	for slid < 2*ttl {
		if time.Now().After(deadline) {
			t.Fatal("the machine kept stalling; no sliding window could be observed")
		}
		time.Sleep(ttl / 4)
		prev := sent
		sent = time.Now()
		ok, err := b.Tokens.Check(Ctx(t), ten, "alice", "h", ttl)
		if err != nil {
			t.Fatal(err)
		}
		gap := time.Since(prev) // at least the time between the two runs
		switch {
		case gap < 3*ttl/4 && !ok:
			t.Fatalf("token expired at most %v after the last check ran (ttl %v): the expiry did not slide", gap, ttl)
		case !ok:
			t.Logf("check answered %v after the last one was sent; starting over", gap)
			sent = time.Now()
			if err := b.Tokens.Put(Ctx(t), ten, "alice", "h", ttl); err != nil {
				t.Fatal(err)
			}
			slid = 0
		default:
			slid += ttl / 4 // the sleep: a lower bound of the time between the two runs
		}
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

func mustPersistent(t *testing.T, tk cluster.Tokens, tenant, user string, want ...string) {
	t.Helper()
	list, err := tk.Persistent(Ctx(t), tenant, user)
	if err != nil {
		t.Fatalf("Persistent(%s,%s): %v", tenant, user, err)
	}
	var got []string
	for _, p := range list {
		if p.Created.IsZero() {
			t.Errorf("Persistent(%s,%s): %s has no creation time", tenant, user, p.Hash)
		}
		got = append(got, p.Hash)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Persistent(%s,%s) = %v, want %v", tenant, user, got, want)
	}
}

func mustCheckJWT(t *testing.T, tk cluster.Tokens, tenant, user, hash string, issued time.Time, want bool) {
	t.Helper()
	ok, err := tk.CheckJWT(Ctx(t), tenant, user, hash, issued, "")
	if err != nil {
		t.Fatalf("CheckJWT(%s,%s,%s): %v", tenant, user, hash, err)
	}
	if ok != want {
		t.Fatalf("CheckJWT(%s,%s,%s,%v) = %v, want %v", tenant, user, hash, issued, ok, want)
	}
}

func testTokensPersistentCap(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, other := Unique("t"), Unique("t")
	for i, h := range []string{"h1", "h2", "h3"} {
		n, err := b.Tokens.PutPersistent(ctx, ten, "alice", h, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(0, i-1); n != want {
			t.Fatalf("PutPersistent(%s) evicted %d, want %d", h, n, want)
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	if err := b.Tokens.Put(ctx, ten, "alice", "e1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tokens.PutPersistent(ctx, other, "alice", "h1", 2); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "alice", "h1", time.Minute, false) // oldest evicted
	mustCheck(t, b.Tokens, ten, "alice", "h2", time.Minute, true)
	mustCheck(t, b.Tokens, ten, "alice", "h3", time.Minute, true)
	mustCheck(t, b.Tokens, other, "alice", "h1", time.Minute, true) // tenant isolation
	mustPersistent(t, b.Tokens, ten, "alice", "h2", "h3")           // expiring e1 not listed
	mustPersistent(t, b.Tokens, ten, "bob")
	if err := b.Tokens.Delete(ctx, ten, "alice", "h2"); err != nil {
		t.Fatal(err)
	}
	mustPersistent(t, b.Tokens, ten, "alice", "h3")
	// A persistent token re-put with a TTL leaves the list.
	if err := b.Tokens.Put(ctx, ten, "alice", "h3", time.Minute); err != nil {
		t.Fatal(err)
	}
	mustPersistent(t, b.Tokens, ten, "alice")
	// Uncapped Put(ttl 0) is listed too.
	if err := b.Tokens.Put(ctx, ten, "alice", "p", 0); err != nil {
		t.Fatal(err)
	}
	mustPersistent(t, b.Tokens, ten, "alice", "p")
}

func testTokensRevokeUser(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, other := Unique("t"), Unique("t")
	puts := []struct {
		tenant, user, hash string
		ttl                time.Duration
	}{
		{ten, "alice", "e1", time.Minute}, {ten, "alice", "p1", 0}, {ten, "alice", "p2", 0},
		{ten, "bob", "e1", time.Minute}, {ten, "bob", "p1", 0}, {other, "alice", "p1", 0},
	}
	for _, p := range puts {
		if err := b.Tokens.Put(ctx, p.tenant, p.user, p.hash, p.ttl); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	n, err := b.Tokens.RevokeUser(ctx, ten, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("RevokeUser deleted %d persistent tokens, want 2", n)
	}
	mustCheck(t, b.Tokens, ten, "alice", "e1", time.Minute, false)
	mustCheck(t, b.Tokens, ten, "alice", "p1", time.Minute, false)
	mustPersistent(t, b.Tokens, ten, "alice")
	mustCheck(t, b.Tokens, ten, "bob", "e1", time.Minute, true)
	mustCheck(t, b.Tokens, ten, "bob", "p1", time.Minute, true)
	mustCheck(t, b.Tokens, other, "alice", "p1", time.Minute, true)
	// A login after the revocation works; an older revocation time does
	// not move the not-before back.
	time.Sleep(5 * time.Millisecond)
	if err := b.Tokens.Put(ctx, ten, "alice", "e2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tokens.RevokeUser(ctx, ten, "alice", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "alice", "e2", time.Minute, true)
	mustCheckJWT(t, b.Tokens, ten, "alice", "j", time.Now().Add(-time.Minute), false)
}

func testTokensJWTDeny(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, other := Unique("t"), Unique("t")
	now := time.Now()
	mustCheckJWT(t, b.Tokens, ten, "alice", "j1", now, true)
	if err := b.Tokens.DenyJWT(ctx, ten, "j1", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.Tokens.DenyJWT(ctx, ten, "j2", time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("DenyJWT of an expired JWT: %v", err)
	}
	mustCheckJWT(t, b.Tokens, ten, "alice", "j1", now, false)
	mustCheckJWT(t, b.Tokens, ten, "bob", "j1", now, false) // by hash, whoever presents it
	mustCheckJWT(t, b.Tokens, ten, "alice", "j2", now, true)
	mustCheckJWT(t, b.Tokens, other, "alice", "j1", now, true)
	// The entry lives until the JWT's exp, then goes.
	deadline := time.Now().Add(Bound)
	for {
		ok, err := b.Tokens.CheckJWT(ctx, ten, "alice", "j1", now, "")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deny-list entry outlived the JWT's exp")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testTokensJWTNotBefore(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten := Unique("t")
	at := time.Now()
	mustCheckJWT(t, b.Tokens, ten, "alice", "j", at.Add(-time.Hour), true)
	if _, err := b.Tokens.RevokeUser(ctx, ten, "alice", at); err != nil {
		t.Fatal(err)
	}
	mustCheckJWT(t, b.Tokens, ten, "alice", "j", at.Add(-time.Second), false)
	mustCheckJWT(t, b.Tokens, ten, "alice", "j", at, true)
	mustCheckJWT(t, b.Tokens, ten, "alice", "j", at.Add(time.Second), true)
	mustCheckJWT(t, b.Tokens, ten, "bob", "j", at.Add(-time.Second), true)
}
