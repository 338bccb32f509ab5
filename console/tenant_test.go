package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/directory"
)

// tenantFixture is a store with tenant t1 owned by n1: extension 201
// (alice's, busy in a conversation with 0721405516) and a queue.
func tenantFixture(t *testing.T) (cluster.Backend, cluster.Lease, *directory.Directory) {
	t.Helper()
	b := memory.New().Cluster()
	ctx := context.Background()
	l, ok, err := b.Ownership.Acquire(ctx, "t1", "n1", time.Minute)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	ext := `{"exten":"201","name":"Alice","status":"busy","dnd":true,"conversations":{"c1":{"id":"c1","counterpartNum":"0721405516","counterpartName":"ACME"}}}`
	if err := b.Bus.PublishFenced(ctx, l, []cluster.Event{
		{Tenant: "t1", Name: "extenChanged", Key: "exten/201", Data: json.RawMessage(ext)},
		{Tenant: "t1", Name: "queueChanged", Key: "queue/401", Data: json.RawMessage(`{"name":"Support","queue":"401","waitingCallers":{}}`)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Sessions.Heartbeat(ctx, "n2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sessions.Add(ctx, cluster.Session{ID: "s1", Tenant: "t1", User: "alice", UAType: "mobile", Node: "n2", LoginAt: 1_700_000_000}); err != nil {
		t.Fatal(err)
	}
	dir, err := directory.Parse([]byte(`{"alice":{"name":"Alice Rossi","endpoints":{"mainextension":{"201":{}},"extension":{"91201":{"type":"webrtc"}}}}}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return b, l, dir
}

func TestTenantPage(t *testing.T) {
	b, _, dir := tenantFixture(t)
	_, srv := testConsole(t, func(o *Options) {
		o.Backend = b
		o.Tenants = func() []string { return []string{"t1"} }
		o.Directory = func(id string) (*directory.Directory, string, bool) { return dir, "xxx", id == "t1" }
	})
	cases := []struct {
		user     string
		has, not []string
	}{
		{"admin", []string{`data-user="alice"`, "201, 91201", "busy, dnd", "n2 · mobile · 22:13:20 UTC", `data-key="exten/201"`, `data-key="queue/401"`, "0721405516"}, nil},
		{"eve", []string{`data-key="exten/201"`, "0721405xxx"}, []string{"0721405516", "ACME"}},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			cl := client(t)
			login(t, srv, cl, tc.user)
			resp, page := get(t, cl, srv.URL+"/console/tenant/t1")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, s := range tc.has {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(page, s) {
					t.Errorf("page shows %q", s)
				}
			}
		})
	}
	cl := client(t)
	login(t, srv, cl, "admin")
	if resp, _ := get(t, cl, srv.URL+"/console/tenant/nobody"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant: %d, want 404", resp.StatusCode)
	}
}

// TestTenantTail: an event published on the tenant's bus reaches the
// console's stream, masked for a user without the unmasked right.
func TestTenantTail(t *testing.T) {
	b, l, _ := tenantFixture(t)
	_, srv := testConsole(t, func(o *Options) {
		o.Backend = b
		o.Tenants = func() []string { return []string{"t1"} }
	})
	for _, tc := range []struct{ user, want, not string }{
		{"admin", "0549111222", ""},
		{"eve", "0549111xxx", "0549111222"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			cl := client(t)
			login(t, srv, cl, tc.user)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/console/tenant/t1/events", nil)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			go func() {
				// Publish until the stream has subscribed and got one.
				for ctx.Err() == nil {
					ext := `{"exten":"202","status":"busy","conversations":{"c2":{"id":"c2","counterpartNum":"0549111222"}}}`
					_ = b.Bus.PublishFenced(ctx, l, []cluster.Event{{Tenant: "t1", Name: "extenChanged", Key: "exten/202", Data: json.RawMessage(ext)}})
					time.Sleep(50 * time.Millisecond)
				}
			}()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				if !strings.Contains(line, `"name":"extenChanged"`) || !strings.Contains(line, tc.want) {
					t.Fatalf("line %s lacks %s", line, tc.want)
				}
				if tc.not != "" && strings.Contains(line, tc.not) {
					t.Fatalf("line %s shows %s", line, tc.not)
				}
				return
			}
			t.Fatalf("stream ended: %v", sc.Err())
		})
	}
}
