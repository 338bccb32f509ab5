package ami

import (
	"testing"
	"unsafe"
)

// TestModelKeepsNoFrame: the values the model keeps for an object's
// lifetime (ids, address, user agent, call forward, the published keys)
// do not point into the AMI frame they were read from: a substring would
// keep the whole frame alive as long as the object.
func TestModelKeepsNoFrame(t *testing.T) {
	m := NewModel("t", testDirectory(t), testObjects(t), nil, nil, fixedNow)
	msg, _, err := parseFrame([]byte("Event: ContactStatus\r\nEndpointName: 201\r\nContactStatus: Reachable\r\n" +
		"URI: sip:201@10.0.0.5:5062\r\nUserAgent: Yealink SIP-T46S\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := ^uintptr(0), uintptr(0)
	for _, h := range msg.Headers() {
		for _, s := range []string{h.Name, h.Value} {
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			lo, hi = min(lo, p), max(hi, p+uintptr(len(s)))
		}
	}
	inFrame := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= lo && p < hi
	}
	e := m.newExtension(field(msg, "EndpointName"))
	if out := m.Apply(nil, msg); len(out) == 0 {
		t.Fatal("the contact change published nothing")
	}
	m.setDB("CF", field(msg, "EndpointName"), field(msg, "URI"))
	if e.obj.IP != "10.0.0.5" || e.obj.SIPUserAgent != "Yealink SIP-T46S" || e.obj.CF == "" {
		t.Fatalf("extension %+v: contact or call forward not applied", e.obj)
	}
	kept := map[string]string{"exten": e.obj.Exten, "ip": e.obj.IP, "port": e.obj.Port, "user agent": e.obj.SIPUserAgent, "cf": e.obj.CF}
	for id := range m.exts {
		kept["map key "+id] = id
	}
	for k := range m.last {
		kept["published key "+k.String()] = k.id
	}
	for what, s := range kept {
		if inFrame(s) {
			t.Errorf("%s %q points into the AMI frame", what, s)
		}
	}
}
