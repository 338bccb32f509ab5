package pbx

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestHeadMemo: a change to any one field of an extension (but its
// conversations) is seen by the memo: what it writes is what
// extensionHead writes.
func TestHeadMemo(t *testing.T) {
	var m headMemo
	checkMemo(t, rand.New(rand.NewPCG(3, 4)), "Conversations",
		func(r *rand.Rand, e *Extension) {
			if r.IntN(4) == 0 && len(e.Codecs) > 0 {
				e.Codecs[0] += "x" // in place
			}
		},
		func(e *Extension) []byte { return m.head(nil, e) },
		func(e *Extension) []byte { return extensionHead(nil, e) })
}

// TestChanMemo: as TestHeadMemo for the channels of conversations.
func TestChanMemo(t *testing.T) {
	var m chanMemo
	checkMemo(t, rand.New(rand.NewPCG(5, 6)), "", nil,
		func(c *Channel) []byte { return m.channel(nil, c) },
		func(c *Channel) []byte { return appendChannel(nil, c, true) })
}

// checkMemo fills a T at random and writes it through memo, then changes
// one field at random (never the one named skip; tweak, when set, may
// change more in place) and checks that memo writes what want writes.
func checkMemo[T any](t *testing.T, r *rand.Rand, skip string, tweak func(*rand.Rand, *T), memo, want func(*T) []byte) {
	t.Helper()
	var v T
	typ := reflect.TypeOf(v)
	for i := 0; i < 3000; i++ {
		fill(r, reflect.ValueOf(&v).Elem(), trickyStrings)
		memo(&v)
		f := r.IntN(typ.NumField())
		if typ.Field(f).Name == skip {
			continue
		}
		fill(r, reflect.ValueOf(&v).Elem().Field(f), trickyStrings)
		if tweak != nil {
			tweak(r, &v)
		}
		if got, w := memo(&v), want(&v); !bytes.Equal(got, w) {
			t.Fatalf("field %s: memo wrote\n%s\nwant\n%s", typ.Field(f).Name, got, w)
		}
	}
}
