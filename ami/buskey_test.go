package ami

import "testing"

// TestBusKeysFollowObjects: a published object's bus key is built once and
// dropped with the object (the cache does not grow with objects gone).
func TestBusKeysFollowObjects(t *testing.T) {
	m := NewModel("t", testDirectory(t), testObjects(t), nil, nil, fixedNow)
	out := m.update(func() {
		m.newExtension("201")
		m.markExt("201")
	})
	if len(out) != 1 || out[0].Key != "exten/201" {
		t.Fatalf("publish: %+v", out)
	}
	out = m.update(func() {
		m.exts["201"].obj.Status = "busy"
		m.markExt("201")
	})
	if len(out) != 1 || out[0].Key != "exten/201" || len(m.busKeys) != 1 {
		t.Fatalf("change: %+v, %d keys", out, len(m.busKeys))
	}
	out = m.update(func() {
		delete(m.exts, "201")
		m.markExt("201")
	})
	if len(out) != 1 || !out[0].Del || out[0].Key != "exten/201" {
		t.Fatalf("delete: %+v", out)
	}
	if len(m.busKeys) != 0 {
		t.Errorf("bus keys after the delete: %v", m.busKeys)
	}
}
