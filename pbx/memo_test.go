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
	r := rand.New(rand.NewPCG(3, 4))
	var m headMemo
	var e Extension
	typ := reflect.TypeOf(e)
	for i := 0; i < 3000; i++ {
		fill(r, reflect.ValueOf(&e).Elem(), trickyStrings)
		m.head(nil, &e)
		f := r.IntN(typ.NumField())
		if typ.Field(f).Name == "Conversations" {
			continue
		}
		fill(r, reflect.ValueOf(&e).Elem().Field(f), trickyStrings)
		if r.IntN(4) == 0 && len(e.Codecs) > 0 {
			e.Codecs[0] += "x" // in place
		}
		if got, want := m.head(nil, &e), extensionHead(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("field %s: memo wrote\n%s\nwant\n%s", typ.Field(f).Name, got, want)
		}
	}
}

// TestChanMemo: as TestHeadMemo for the channels of conversations.
func TestChanMemo(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var m chanMemo
	var c Channel
	typ := reflect.TypeOf(c)
	for i := 0; i < 3000; i++ {
		fill(r, reflect.ValueOf(&c).Elem(), trickyStrings)
		m.channel(nil, &c)
		f := r.IntN(typ.NumField())
		fill(r, reflect.ValueOf(&c).Elem().Field(f), trickyStrings)
		if got, want := m.channel(nil, &c), appendChannel(nil, &c, true); !bytes.Equal(got, want) {
			t.Fatalf("field %s: memo wrote\n%s\nwant\n%s", typ.Field(f).Name, got, want)
		}
	}
}
