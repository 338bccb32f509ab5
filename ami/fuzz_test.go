package ami

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes through the framing and parsing path and
// the model: nothing may panic, and every parsed message has headers.
func FuzzParse(f *testing.F) {
	f.Add([]byte(stream))
	f.Add([]byte("Event: Hangup\r\nChannel: PJSIP/201-1\r\nUniqueid: 1.1\r\n\r\n"))
	f.Add([]byte("Response: Success\r"))
	f.Add([]byte("Event: DialBegin\r\nChannel: PJSIP/201-1\r\nUniqueid: 1.1\r\nDestChannel: PJSIP/202-2\r\nDestUniqueid: 1.2\r\n\r\n"))
	f.Add([]byte("Event: ConfbridgeJoin\r\nConference: 8201\r\nCallerIDNum: 201\r\nChannel: x\r\n\r\nEvent: ConfbridgeEnd\r\nConference: 8201\r\n\r\n"))
	dir, objs := testDirectory(f), testObjects(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		m := NewModel("t", dir, objs, nil, nil, fixedNow)
		for _, id := range []string{"201", "202"} {
			m.newExtension(id)
		}
		m.newTrunk("2001", objs.Trunks["2001"])
		m.queueFor("401")
		m.addLot(lot{name: "default", start: 71, stop: 72, timeout: 45})
		fr := newFramer(bytes.NewReader(in), 512)
		for {
			frame, err := fr.next()
			if errors.Is(err, errOversize) {
				continue
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				t.Fatalf("framer: %v", err)
			}
			msg, _, err := parseFrame(frame)
			if err != nil {
				continue
			}
			if msg.Len() == 0 {
				t.Fatal("parsed message without headers")
			}
			m.Apply(nil, msg)
		}
		snapshot(m)
	})
}

// FuzzEqualFold: field's header name comparison agrees with
// strings.EqualFold on names of the same length.
func FuzzEqualFold(f *testing.F) {
	for _, p := range [][2]string{{"Channel", "Context"}, {"UNIQUEID", "Uniqueid"}, {"\u212a", "kkk"}, {"s\u017f", "ss\xc5"}, {"é", "É"}, {"a\xff", "A\xff"}, {"[", "{"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(b) > len(a) {
			a, b = b, a
		}
		a = a[:len(b)]
		if got, want := equalFold(a, b), strings.EqualFold(a, b); got != want {
			t.Fatalf("equalFold(%q, %q) = %v, strings.EqualFold %v", a, b, got, want)
		}
	})
}
