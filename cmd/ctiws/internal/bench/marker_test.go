package bench

import (
	"strconv"
	"testing"

	"github.com/ctiws/ctiws/ami/sim"
)

func TestParseMarker(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		seq   uint64
		nanos int64
		ok    bool
	}{
		{"extenUpdate", `42["extenUpdate",{"ip":"","exten":"1000","sipuseragent":"bench/17/1732560000123456789","conversations":{}}]`, 17, 1732560000123456789, true},
		{"first field", `42["extenUpdate",{"sipuseragent":"bench/1/5"}]`, 1, 5, true},
		{"other event", `42["userMainPresenceUpdate",{"sipuseragent":"bench/1/5"}]`, 0, 0, false},
		{"no marker", `42["extenUpdate",{"sipuseragent":"Yealink T46"}]`, 0, 0, false},
		{"empty user agent", `42["extenUpdate",{"sipuseragent":""}]`, 0, 0, false},
		{"missing nanos", `42["extenUpdate",{"sipuseragent":"bench/3"}]`, 0, 0, false},
		{"unterminated", `42["extenUpdate",{"sipuseragent":"bench/3/99`, 0, 0, false},
		{"letters", `42["extenUpdate",{"sipuseragent":"bench/x/99"}]`, 0, 0, false},
		{"seq overflow", `42["extenUpdate",{"sipuseragent":"bench/99999999999999999999/1"}]`, 0, 0, false},
		{"nanos above int64", `42["extenUpdate",{"sipuseragent":"bench/1/9223372036854775808"}]`, 0, 0, false},
		{"ack frame", `43["ok"]`, 0, 0, false},
		{"empty", ``, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, nanos, ok := ParseMarker([]byte(tt.frame))
			if seq != tt.seq || nanos != tt.nanos || ok != tt.ok {
				t.Fatalf("ParseMarker = %d, %d, %v; want %d, %d, %v", seq, nanos, ok, tt.seq, tt.nanos, tt.ok)
			}
		})
	}
}

// The marker format is the simulator's: both parsers must agree.
func TestParseMarkerAgreesWithSim(t *testing.T) {
	ua := sim.BenchUserAgentPrefix + "42/1700000000000000001"
	seq, written, ok := sim.ParseBenchUserAgent(ua)
	if !ok {
		t.Fatal("sim refuses its own marker")
	}
	frame := `42["extenUpdate",{"exten":"1000","sipuseragent":` + strconv.Quote(ua) + `}]`
	s, n, ok := ParseMarker([]byte(frame))
	if !ok || s != seq || n != written.UnixNano() {
		t.Fatalf("ParseMarker = %d, %d, %v; sim says %d, %d", s, n, ok, seq, written.UnixNano())
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add([]byte(`42["extenUpdate",{"sipuseragent":"bench/1/5"}]`))
	f.Add([]byte(`42["extenUpdate",{"sipuseragent":"bench/`))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, nanos, ok := ParseMarker(b)
		if !ok && (seq != 0 || nanos != 0) {
			t.Fatal("values without ok")
		}
		if ok && nanos < 0 {
			t.Fatal("negative nanos")
		}
	})
}
