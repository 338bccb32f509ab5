package bench

import "bytes"

// markerKey precedes the bench marker inside an extenUpdate payload: the
// simulator writes "bench/<seq>/<unix-nanos-at-write>" as the contact's
// user agent and the model copies it into the extension's sipuseragent.
var markerKey = []byte(`"sipuseragent":"bench/`)

// extenUpdatePrefix starts every extenUpdate Socket.IO frame.
var extenUpdatePrefix = []byte(`42["extenUpdate",`)

// ParseMarker finds the bench marker in a raw Socket.IO event frame
// ("42[\"extenUpdate\",{…}]") without decoding the JSON. ok is false for any
// other event or a frame without a well-formed marker.
func ParseMarker(frame []byte) (seq uint64, nanos int64, ok bool) {
	if !bytes.HasPrefix(frame, extenUpdatePrefix) {
		return 0, 0, false
	}
	i := bytes.Index(frame, markerKey)
	if i < 0 {
		return 0, 0, false
	}
	rest := frame[i+len(markerKey):]
	seq, rest, ok = parseUint(rest)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return 0, 0, false
	}
	n, rest, ok := parseUint(rest[1:])
	if !ok || len(rest) == 0 || rest[0] != '"' || n > 1<<63-1 {
		return 0, 0, false
	}
	return seq, int64(n), true
}

// parseUint reads leading decimal digits; ok is false without any digit or
// on overflow.
func parseUint(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, b, false
		}
		v = v*10 + d
	}
	return v, b[i:], i > 0
}
