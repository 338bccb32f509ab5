package clustertest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// mustSync runs SyncPasswords and compares what it did.
func mustSync(t *testing.T, b cluster.Backend, ten string, previous, current map[string]string, revoked, stale []string) {
	t.Helper()
	got, err := b.Tokens.SyncPasswords(Ctx(t), ten, previous, current, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Revoked, revoked) || !slices.Equal(got.Stale, stale) {
		t.Fatalf("SyncPasswords(prev %v, cur %v) = revoked %v stale %v, want %v %v", previous, current, got.Revoked, got.Stale, revoked, stale)
	}
}

// mustFingerprint checks the store's current fingerprint of a user.
func mustFingerprint(t *testing.T, b cluster.Backend, ten, user, want string, wantKnown bool) {
	t.Helper()
	fp, known, err := b.Tokens.PasswordFingerprint(Ctx(t), ten, user)
	if err != nil {
		t.Fatal(err)
	}
	if fp != want || known != wantKnown {
		t.Fatalf("PasswordFingerprint(%s) = %q %v, want %q %v", user, fp, known, want, wantKnown)
	}
}

func testTokensSyncPasswords(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten := Unique("t")
	v1 := map[string]string{"alice": "a", "bob": "b", "carol": "c"}
	v2 := map[string]string{"alice": "a", "bob": "b2", "dave": "d"}
	mustSync(t, b, ten, nil, v1, nil, nil) // first sight: nothing revoked
	mustSync(t, b, ten, nil, v1, nil, nil) // another node, same file
	for _, u := range []string{"alice", "bob"} {
		if err := b.Tokens.Put(ctx, ten, u, "e", time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := b.Tokens.Put(ctx, ten, u, "p", 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	mustSync(t, b, ten, v1, v2, []string{"bob", "carol"}, nil)
	mustSync(t, b, ten, v1, v2, nil, nil) // the second node: acted upon once
	mustCheck(t, b.Tokens, ten, "alice", "e", time.Minute, true)
	mustCheck(t, b.Tokens, ten, "alice", "p", time.Minute, true)
	mustCheck(t, b.Tokens, ten, "bob", "e", time.Minute, false)
	mustPersistent(t, b.Tokens, ten, "bob")
	mustCheckJWT(t, b.Tokens, ten, "bob", "j", time.Now().Add(-time.Minute), false)
	mustFingerprint(t, b, ten, "bob", "b2", true)
	mustFingerprint(t, b, ten, "carol", "", true)
	mustFingerprint(t, b, ten, "erin", "", false)
}

// testTokensSyncPasswordsStale: a node whose file is older than what
// another node published never rolls the store back, at start or on
// reload, and learns that its users are stale.
func testTokensSyncPasswordsStale(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	old := map[string]string{"alice": "a", "bob": "b1"}
	next := map[string]string{"alice": "a", "bob": "b2"}
	mustSync(t, b, ten, nil, old, nil, nil)
	mustSync(t, b, ten, old, next, []string{"bob"}, nil) // node 1 reloads
	if _, err := b.Tokens.PutIssued(Ctx(t), ten, "bob", "new", time.Minute, 0, "b2"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, b, ten, old, old, nil, []string{"bob"}) // node 2, stale file
	mustSync(t, b, ten, nil, old, nil, []string{"bob"}) // node 2 restarts, still stale
	mustFingerprint(t, b, ten, "bob", "b2", true)
	mustCheck(t, b.Tokens, ten, "bob", "new", time.Minute, true)
	mustSync(t, b, ten, old, next, nil, nil) // node 2 catches up
	// A third password is a change again, and b2 is retired too.
	third := map[string]string{"alice": "a", "bob": "b3"}
	mustSync(t, b, ten, next, third, []string{"bob"}, nil)
	mustSync(t, b, ten, nil, next, nil, []string{"bob"})
	mustSync(t, b, ten, nil, old, nil, []string{"bob"})
	mustFingerprint(t, b, ten, "bob", "b3", true)
}

// testTokensSyncPasswordsRemoval: a user missing from a node's file is
// removed only by a node that saw it listed with the current fingerprint;
// a node that never had it (stale, or started after it was added) does not
// remove it. A removed user's old fingerprint stays retired.
func testTokensSyncPasswordsRemoval(t *testing.T, b cluster.Backend) {
	ten := Unique("t")
	withBob := map[string]string{"alice": "a", "bob": "b"}
	without := map[string]string{"alice": "a"}
	mustSync(t, b, ten, nil, withBob, nil, nil)
	mustSync(t, b, ten, nil, without, nil, nil)     // a node without bob, at start
	mustSync(t, b, ten, without, without, nil, nil) // and on reload
	mustFingerprint(t, b, ten, "bob", "b", true)
	mustSync(t, b, ten, withBob, without, []string{"bob"}, nil)
	mustSync(t, b, ten, withBob, without, nil, nil)
	mustFingerprint(t, b, ten, "bob", "", true)
	mustSync(t, b, ten, nil, withBob, nil, []string{"bob"}) // a stale node
	mustFingerprint(t, b, ten, "bob", "", true)
	back := map[string]string{"alice": "a", "bob": "b9"}
	got, err := b.Tokens.SyncPasswords(Ctx(t), ten, without, back, time.Now())
	if err != nil || len(got.Stale) != 0 {
		t.Fatalf("bob added again with a new hash: %+v %v", got, err)
	}
	mustFingerprint(t, b, ten, "bob", "b9", true)
}

// testTokensPutIssued: a token bound to a password fingerprint is stored
// only while that fingerprint is current and refused once it is not, even
// when it was created after the not-before moved (issued by a node that
// checked the old password just before another node published the new
// one). JWTs alike; tokens and JWTs without a fingerprint are governed by
// the not-before only.
func testTokensPutIssued(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten := Unique("t")
	if _, err := b.Tokens.PutIssued(ctx, ten, "bob", "unsynced", time.Minute, 0, "b1"); err != nil {
		t.Fatalf("PutIssued before any sync: %v", err)
	}
	v1 := map[string]string{"bob": "b1"}
	v2 := map[string]string{"bob": "b2"}
	mustSync(t, b, ten, nil, v1, nil, nil)
	for _, h := range []string{"e1", "p1"} {
		ttl := time.Minute
		if h == "p1" {
			ttl = 0
		}
		if _, err := b.Tokens.PutIssued(ctx, ten, "bob", h, ttl, 10, "b1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Tokens.PutIssued(ctx, ten, "bob", "x", time.Minute, 0, "b2"); !errors.Is(err, cluster.ErrPasswordStale) {
		t.Fatalf("PutIssued under a fingerprint not yet published: %v, want ErrPasswordStale", err)
	}
	mustCheck(t, b.Tokens, ten, "bob", "e1", time.Minute, true)
	mustCheckJWT(t, b.Tokens, ten, "bob", "j", time.Now(), true)
	if ok, err := b.Tokens.CheckJWT(ctx, ten, "bob", "j", time.Now(), "b1"); err != nil || !ok {
		t.Fatalf("CheckJWT under the current fingerprint: %v %v", ok, err)
	}
	// The not-before moves in the past: the race where the old password was
	// checked before the change but the token is created after it.
	if _, err := b.Tokens.SyncPasswords(ctx, ten, v1, v2, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "bob", "e1", time.Minute, false)
	mustCheck(t, b.Tokens, ten, "bob", "p1", time.Minute, false)
	mustCheck(t, b.Tokens, ten, "bob", "unsynced", time.Minute, false)
	if _, err := b.Tokens.PutIssued(ctx, ten, "bob", "late", 0, 10, "b1"); !errors.Is(err, cluster.ErrPasswordStale) {
		t.Fatalf("PutIssued under the replaced fingerprint: %v, want ErrPasswordStale", err)
	}
	mustPersistent(t, b.Tokens, ten, "bob")
	for _, tc := range []struct {
		fp   string
		want bool
	}{{"b1", false}, {"b2", true}, {"", true}} {
		if ok, err := b.Tokens.CheckJWT(ctx, ten, "bob", "j", time.Now(), tc.fp); err != nil || ok != tc.want {
			t.Errorf("CheckJWT(pwfp %q) after the change = %v %v, want %v", tc.fp, ok, err, tc.want)
		}
	}
	if _, err := b.Tokens.PutIssued(ctx, ten, "bob", "e2", time.Minute, 0, "b2"); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b.Tokens, ten, "bob", "e2", time.Minute, true)
}
