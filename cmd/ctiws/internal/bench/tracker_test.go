package bench

import "testing"

func TestSeqTracker(t *testing.T) {
	var tr seqTracker
	tr.reset(100)
	if tr.frame(100, true) {
		t.Fatal("seq at base counted")
	}
	for _, s := range []uint64{101, 300, 101, 1000} {
		tr.frame(s, true)
	}
	tr.frame(0, false)
	d, dup, fr, m := tr.counts()
	if d != 3 || dup != 1 || fr != 6 || m != 5 {
		t.Fatalf("distinct %d dupes %d frames %d markers %d", d, dup, fr, m)
	}
	if tr.popcount() != d {
		t.Fatalf("popcount %d != distinct %d", tr.popcount(), d)
	}
	if !tr.has(300) || tr.has(299) || tr.has(100) || tr.has(5000) {
		t.Fatal("has")
	}
	tr.reset(1000)
	if d, _, _, _ := tr.counts(); d != 0 || tr.has(1000) || tr.popcount() != 0 {
		t.Fatal("reset kept data")
	}
}

func TestFinalSeq(t *testing.T) {
	// 3 extensions, 7 changes: ext0 got 1,4,7; ext1 2,5; ext2 3,6.
	want := []uint64{7, 5, 6}
	for k, w := range want {
		if got := FinalSeq(7, 3, k); got != w {
			t.Errorf("FinalSeq(7, 3, %d) = %d, want %d", k, got, w)
		}
	}
	if FinalSeq(1, 3, 1) != 0 || FinalSeq(0, 3, 0) != 0 || FinalSeq(5, 0, 0) != 0 || FinalSeq(5, 3, 3) != 0 {
		t.Fatal("no change must give 0")
	}
	// Brute force against the round-robin definition.
	for w := uint64(0); w < 50; w++ {
		for exts := 1; exts < 7; exts++ {
			last := make([]uint64, exts)
			for s := uint64(1); s <= w; s++ {
				last[(s-1)%uint64(exts)] = s
			}
			for k := range exts {
				if got := FinalSeq(w, exts, k); got != last[k] {
					t.Fatalf("FinalSeq(%d,%d,%d) = %d, want %d", w, exts, k, got, last[k])
				}
			}
		}
	}
}
