package clustertest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func consoleCases() []Case {
	return []Case{
		{"console/status", testConsoleStatus},
		{"console/audit", testConsoleAudit},
		{"console/requests", testConsoleRequests},
	}
}

// testConsoleStatus: a status record is read back until its TTL passes,
// and a newer one replaces it.
func testConsoleStatus(t *testing.T, b cluster.Backend) {
	if b.Console == nil {
		t.Fatal("Backend.Console is nil")
	}
	c := b.Console
	n1, n2 := Unique("n"), Unique("n")
	put := func(node, v string, ttl time.Duration) {
		t.Helper()
		if err := c.PutStatus(Ctx(t), node, json.RawMessage(v), ttl); err != nil {
			t.Fatalf("PutStatus(%s): %v", node, err)
		}
	}
	get := func() map[string]json.RawMessage {
		t.Helper()
		m, err := c.Statuses(Ctx(t))
		if err != nil {
			t.Fatalf("Statuses: %v", err)
		}
		return m
	}
	put(n1, `{"v":1}`, time.Minute)
	put(n1, `{"v":2}`, time.Minute)
	put(n2, `{"v":3}`, 300*time.Millisecond)
	m := get()
	if string(m[n1]) != `{"v":2}` || string(m[n2]) != `{"v":3}` {
		t.Fatalf("Statuses: %s=%s %s=%s, want the newest of each", n1, m[n1], n2, m[n2])
	}
	Eventually(t, Bound, "an expired status record dropped", func() bool { _, ok := get()[n2]; return !ok })
	if _, ok := get()[n1]; !ok {
		t.Fatal("a live status record went with an expired one")
	}
}

// testConsoleAudit: entries come back newest first, capped at max.
func testConsoleAudit(t *testing.T, b cluster.Backend) {
	c := b.Console
	tag := Unique("a")
	for i := range 15 {
		if err := c.Audit(Ctx(t), json.RawMessage(fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, i)), 10); err != nil {
			t.Fatalf("Audit: %v", err)
		}
	}
	got, err := c.AuditLog(Ctx(t), 100)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	if len(got) != 10 {
		t.Fatalf("AuditLog: %d entries, want the cap of 10", len(got))
	}
	for k, e := range got {
		want := fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, 14-k)
		if string(e) != want {
			t.Fatalf("entry %d: %s, want %s (newest first)", k, e, want)
		}
	}
	if two, _ := c.AuditLog(Ctx(t), 2); len(two) != 2 || string(two[0]) != string(got[0]) {
		t.Fatalf("AuditLog(2): %s", two)
	}
}

// testConsoleRequests: a node takes its own requests, in order, once.
func testConsoleRequests(t *testing.T, b cluster.Backend) {
	c := b.Console
	n1, n2 := Unique("n"), Unique("n")
	for _, r := range []struct{ node, req string }{{n1, `"a"`}, {n2, `"x"`}, {n1, `"b"`}} {
		if err := c.Request(Ctx(t), r.node, json.RawMessage(r.req)); err != nil {
			t.Fatalf("Request: %v", err)
		}
	}
	take := func(node string) string {
		t.Helper()
		got, err := c.TakeRequests(Ctx(t), node)
		if err != nil {
			t.Fatalf("TakeRequests: %v", err)
		}
		var s []string
		for _, r := range got {
			s = append(s, string(r))
		}
		return fmt.Sprint(s)
	}
	if got := take(n1); got != `["a" "b"]` {
		t.Fatalf("n1 took %s", got)
	}
	if got := take(n1); got != "[]" {
		t.Fatalf("n1 took %s again", got)
	}
	if got := take(n2); got != `["x"]` {
		t.Fatalf("n2 took %s", got)
	}
}
