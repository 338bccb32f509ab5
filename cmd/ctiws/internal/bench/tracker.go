package bench

import (
	"math/bits"
	"sync"
)

// seqTracker records which bench sequence numbers one client received in
// the current window (seq > base), as a growable bitset.
type seqTracker struct {
	mu       sync.Mutex
	base     uint64
	bits     []uint64
	distinct uint64
	dupes    uint64
	frames   uint64 // every event frame, marker or not
	markers  uint64 // extenUpdate frames with a marker, any seq
}

// reset starts a new window: only seqs above base count.
func (t *seqTracker) reset(base uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.base = base
	clear(t.bits)
	t.distinct, t.dupes, t.frames, t.markers = 0, 0, 0, 0
}

// frame counts one event frame; with a marker, it records seq and reports
// whether seq is new in the window.
func (t *seqTracker) frame(seq uint64, marker bool) (fresh bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.frames++
	if !marker {
		return false
	}
	t.markers++
	if seq <= t.base {
		return false
	}
	i := seq - t.base - 1
	w := int(i / 64)
	if w >= len(t.bits) {
		t.bits = append(t.bits, make([]uint64, w-len(t.bits)+1+len(t.bits)/2)...)
	}
	m := uint64(1) << (i % 64)
	if t.bits[w]&m != 0 {
		t.dupes++
		return false
	}
	t.bits[w] |= m
	t.distinct++
	return true
}

// has reports whether seq was received in the window.
func (t *seqTracker) has(seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hasLocked(seq)
}

func (t *seqTracker) hasLocked(seq uint64) bool {
	if seq <= t.base {
		return false
	}
	i := seq - t.base - 1
	w := int(i / 64)
	return w < len(t.bits) && t.bits[w]&(1<<(i%64)) != 0
}

// missing calls miss(k) for every k whose seq finals[k] falls in the
// window (seqs at or below the base were checked by the warm-up) and was
// not received; it reports whether there was any. One lock for the lot:
// the bench checks 10,000 clients × 10,000 extensions while it drains.
func (t *seqTracker) missing(finals []uint64, miss func(k int)) (any bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, seq := range finals {
		if seq > t.base && !t.hasLocked(seq) {
			miss(k)
			any = true
		}
	}
	return any
}

// counts returns distinct seqs, duplicates, event frames and marker frames.
func (t *seqTracker) counts() (distinct, dupes, frames, markers uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.distinct, t.dupes, t.frames, t.markers
}

// popcount recounts the bitset (tests use it to cross-check distinct).
func (t *seqTracker) popcount() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int
	for _, w := range t.bits {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// FinalSeq returns the last sequence number the simulator wrote for
// extension index k (0-based, in configuration order) when it wrote
// `written` round-robin changes over `exts` extensions; 0 when k got none.
func FinalSeq(written uint64, exts, k int) uint64 {
	if exts <= 0 || k < 0 || k >= exts || written < uint64(k)+1 {
		return 0
	}
	first := uint64(k) + 1
	return first + (written-first)/uint64(exts)*uint64(exts)
}
