package backoff

import (
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := New(time.Second, 8*time.Second)
	type step struct {
		at       time.Duration // since t0
		fail     bool
		wantWait time.Duration // checked before the failure
	}
	steps := []step{
		{0, true, 0}, {0, true, 0}, // 2 free
		{0, true, 0}, // 3rd: lock 1s
		{500 * time.Millisecond, false, 500 * time.Millisecond},
		{time.Second, true, 0}, // 4th: lock 2s
		{2 * time.Second, false, time.Second},
		{3 * time.Second, true, 0},               // 5th: 4s
		{7 * time.Second, true, 0},               // 6th: 8s (the max)
		{8 * time.Second, true, 7 * time.Second}, // a failure while locked (e.g. another node) still counts: 7th, capped at 8s
		{16 * time.Second, false, 0},
		{40 * time.Second, false, 0}, // idle longer than max: forgotten
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if got := b.Wait("k", now); got != st.wantWait {
			t.Fatalf("step %d: wait %v, want %v", i, got, st.wantWait)
		}
		if st.fail {
			b.Fail("k", 2, now)
		}
	}
	// Forgotten: two more free failures.
	b.Fail("k", 2, t0.Add(41*time.Second))
	if got := b.Wait("k", t0.Add(41*time.Second)); got != 0 {
		t.Fatalf("after forgetting: wait %v", got)
	}
	b.Fail("x", 0, t0)
	b.Reset("x")
	if got := b.Wait("x", t0); got != 0 {
		t.Fatalf("after reset: wait %v", got)
	}
}

func TestBackoffBounded(t *testing.T) {
	b := New(time.Second, time.Minute)
	now := time.Now()
	for i := range MaxKeys + 10 {
		b.Fail("k"+strings.Repeat("x", i%7)+string(rune(i)), 5, now)
	}
	if n := len(b.m); n > MaxKeys {
		t.Fatalf("%d keys, bound %d", n, MaxKeys)
	}
}

// TestBackoffFreshTry: while a key is locked, one fresh try passes per
// lock period; the next one only once the lock as it stood at that try
// would have ended, however many fresh clients ask.
func TestBackoffFreshTry(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := New(time.Second, time.Hour)
	if !b.FreshTry("k", t0) {
		t.Fatal("not locked: refused")
	}
	b.Fail("k", 0, t0) // locked until t0+1s
	steps := []struct {
		at   time.Duration
		want bool
		fail bool // the try fails: the lock doubles from there
	}{
		{0, true, true},                        // the period's try, wrong: locked until 2s
		{100 * time.Millisecond, false, false}, // another fresh client, same period
		{900 * time.Millisecond, false, false},
		{time.Second, true, true}, // the lock at the last try (1s) has ended: next try; wrong: until 5s
		{1500 * time.Millisecond, false, false},
		{2 * time.Second, true, false},  // the lock at the last try (2s) has ended
		{3 * time.Second, false, false}, // until 5s
		{5 * time.Second, true, false},  // not locked any more
	}
	for i, st := range steps {
		now := t0.Add(st.at)
		if got := b.FreshTry("k", now); got != st.want {
			t.Fatalf("step %d (%v): freshTry %v, want %v", i, st.at, got, st.want)
		}
		if st.fail {
			b.Fail("k", 0, now)
		}
	}
	if b.Failed("p", t0) {
		t.Fatal("failed: a key without failures")
	}
	b.Fail("p", 1<<30, t0)
	if !b.Failed("p", t0) || b.Wait("p", t0) != 0 {
		t.Fatal("a record-only key: want failed and never locked")
	}
}
