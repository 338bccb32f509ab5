package pbx

import "hash/maphash"

// Digest is a 128-bit hash of an object's JSON: enough to tell whether an
// object changed without keeping its bytes (a chance collision, 2^-128 per
// comparison, is not a concern; the seeds are random, so nobody can aim
// for one).
type Digest [2]uint64

// Digester computes Digests. Digests are comparable only when computed by
// the same Digester.
type Digester struct{ a, b maphash.Seed }

// NewDigester returns a Digester with fresh random seeds.
func NewDigester() Digester { return Digester{a: maphash.MakeSeed(), b: maphash.MakeSeed()} }

// Sum returns the digest of b.
func (d Digester) Sum(b []byte) Digest {
	return Digest{maphash.Bytes(d.a, b), maphash.Bytes(d.b, b)}
}
