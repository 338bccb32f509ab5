package pbx

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// appendShapes are the types the append encoders write; each must match
// encoding/json byte for byte.
var appendShapes = []any{
	Extension{}, Trunk{}, Queue{}, QueueMember{}, Parking{}, Conference{}, Voicemail{},
	ExtenDialing{}, ExtenConnected{}, ExtenHangup{},
}

// trickyStrings exercise every escape of encoding/json's string encoder.
var trickyStrings = []string{
	"", "201", "PJSIP/201-00000001>PJSIP/202-00000002", "<unknown>", "a&b", `q"uote`, `back\slash`,
	"\b\f\n\r\t", "\x00\x01\x1f\x7f", "é ü 日本", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xed\xa0\x80",
	"CID:123", "Name 201", "abcdefgh<ijklmnop&qrstuvw\"xyz01234567\\89", "0123456789abcdef\u2028ghijklmn\x01opqrstuv",
}

// fill sets v (addressable) to random contents drawn from strs.
func fill(r *rand.Rand, v reflect.Value, strs []string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[r.IntN(len(strs))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 45, 1712825010123, -9223372036854775808}[r.IntN(6)])
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), strs)
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(3) {
		case 0:
			v.SetZero()
		default:
			n := r.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := 0; i < n; i++ {
				fill(r, s.Index(i), strs)
			}
			v.Set(s)
		}
	case reflect.Map:
		if r.IntN(4) == 0 {
			v.SetZero()
			return
		}
		m := reflect.MakeMap(v.Type())
		for n := r.IntN(4); n > 0; n-- {
			val := reflect.New(v.Type().Elem()).Elem()
			fill(r, val, strs)
			m.SetMapIndex(reflect.ValueOf(strs[r.IntN(len(strs))]).Convert(v.Type().Key()), val)
		}
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(r, v.Field(i), strs)
		}
	}
}

// reference is what Encoder wrote before the append encoders.
func reference(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// checkShapes compares the append encoders with encoding/json for every
// shape, by value and by pointer, filled from strs.
func checkShapes(t testing.TB, r *rand.Rand, enc *Encoder, strs []string) {
	for _, shape := range appendShapes {
		p := reflect.New(reflect.TypeOf(shape))
		fill(r, p.Elem(), strs)
		for _, v := range []any{p.Interface(), p.Elem().Interface()} {
			if _, ok := enc.app.append(nil, v); !ok {
				t.Fatalf("%T: not written by the append encoders", v)
			}
			want := reference(t, v)
			got, err := enc.Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%T:\n got %s\nwant %s", v, got, want)
			}
		}
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	enc := NewEncoder()
	for i := 0; i < 2000; i++ {
		checkShapes(t, r, enc, trickyStrings)
	}
}

func TestEncodeNilAndOthers(t *testing.T) {
	enc := NewEncoder()
	for _, v := range []any{(*Extension)(nil), (*Parking)(nil), map[string]int{"<": 1}, ConfEnd{ID: "a>b"}} {
		got, err := enc.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, v); !bytes.Equal(got, want) {
			t.Errorf("%T: got %s want %s", v, got, want)
		}
	}
}

// FuzzAppendJSON compares the append encoders with encoding/json on
// objects filled with the fuzzer's strings.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, "x", uint64(1))
	}
	enc := NewEncoder()
	f.Fuzz(func(t *testing.T, a, b string, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 7))
		checkShapes(t, r, enc, []string{a, b, a + b})
		checkCompare(t, r, enc, []string{a, b, a + b})
	})
}

// TestTypedEncoders: the typed encoders write what Encode writes.
func TestTypedEncoders(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	enc := NewEncoder()
	for i := 0; i < 500; i++ {
		var (
			e  Extension
			tr Trunk
			q  Queue
			qm QueueMember
			p  Parking
			c  Conference
			v  Voicemail
		)
		for _, x := range []any{&e, &tr, &q, &qm, &p, &c, &v} {
			fill(r, reflect.ValueOf(x).Elem(), trickyStrings)
		}
		for _, tc := range []struct {
			v   any
			got []byte
		}{
			{&e, bytes.Clone(enc.Extension(&e))}, {&tr, bytes.Clone(enc.Trunk(&tr))}, {&q, bytes.Clone(enc.Queue(&q))},
			{&qm, bytes.Clone(enc.QueueMember(&qm))}, {&p, bytes.Clone(enc.Parking(&p))},
			{&c, bytes.Clone(enc.Conference(&c))}, {&v, bytes.Clone(enc.Voicemail(&v))},
		} {
			if want := reference(t, tc.v); !bytes.Equal(tc.got, want) {
				t.Fatalf("%T:\n got %s\nwant %s", tc.v, tc.got, want)
			}
		}
	}
}

// TestCompareAndStamp: a comparison JSON is the object's JSON after
// SetTimes(0) and its stamp the JSON after SetTimes(now), byte for byte.
func TestCompareAndStamp(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	enc := NewEncoder()
	for i := 0; i < 2000; i++ {
		checkCompare(t, r, enc, trickyStrings)
	}
	// After a plain call, Stamp copies that call's JSON.
	v := Voicemail{Voicemail: "201", New: "1"}
	enc.Voicemail(&v)
	if got, want := enc.Stamp(5), reference(t, &v); enc.Timed() || !bytes.Equal(got, want) {
		t.Fatalf("stamp after a plain call: %s, want %s", got, want)
	}
}

// timed is implemented by the objects with clock-derived fields.
type timed interface {
	SetTimes(nowMs int64)
	HasTimes() bool
}

// checkCompare compares the comparison encoders and Stamp with
// encoding/json after SetTimes, for objects filled from strs.
func checkCompare(t testing.TB, r *rand.Rand, enc *Encoder, strs []string) {
	nows := []int64{0, 1, 500, 1712825010123, 1712825010123 + 37_500, 1712825099999}
	var (
		e  Extension
		tr Trunk
		q  Queue
		p  Parking
	)
	for _, tc := range []struct {
		v   timed
		cmp func() []byte
	}{
		{&e, func() []byte { return enc.CompareExtension(&e) }},
		{&e, func() []byte { return enc.CompareExtensionList(&e, convList(e.Conversations)) }},
		{&tr, func() []byte { return enc.CompareTrunk(&tr) }},
		{&q, func() []byte { return enc.CompareQueue(&q) }},
		{&p, func() []byte { return enc.CompareParking(&p) }},
	} {
		fill(r, reflect.ValueOf(tc.v).Elem(), strs)
		now := nows[r.IntN(len(nows))]
		cmp := bytes.Clone(tc.cmp())
		stamped, isTimed := enc.Stamp(now), enc.Timed()
		tc.v.SetTimes(0)
		if want := reference(t, tc.v); !bytes.Equal(cmp, want) {
			t.Fatalf("%T comparison:\n got %s\nwant %s", tc.v, cmp, want)
		}
		if isTimed != tc.v.HasTimes() {
			t.Fatalf("%T: Timed %v, HasTimes %v", tc.v, isTimed, tc.v.HasTimes())
		}
		tc.v.SetTimes(now)
		if want := reference(t, tc.v); !bytes.Equal(stamped, want) {
			t.Fatalf("%T at %d:\n got %s\nwant %s", tc.v, now, stamped, want)
		}
	}
}

// convList sets the ID of each of m's conversations to its key and returns
// them as a list, in map order (CompareExtensionList's input).
func convList(m Conversations) []Conversation {
	var l []Conversation
	for k, c := range m {
		c.ID = k
		m[k] = c
		l = append(l, c)
	}
	return l
}
