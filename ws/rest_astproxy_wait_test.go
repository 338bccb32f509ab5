package ws_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCallControlAnswerOutlastsServerTimeouts: the owner answers a call
// after the HTTP server's read and write timeouts have passed (a phone
// that rings a while); the client still gets the answer, not a closed
// connection. The server's timeouts are 300 ms, the answer comes after
// 1.5 s, the command may wait 6 s.
func TestCallControlAnswerOutlastsServerTimeouts(t *testing.T) {
	dir, err := directory.Parse([]byte(ctlUsers), []byte(ctlProfiles))
	if err != nil {
		t.Fatal(err)
	}
	ts := ws.StartTestServer(t, ws.Options{CommandWait: 6 * time.Second,
		Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true})}})
	hs := httptest.NewUnstartedServer(ts.Srv.Handler())
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	hs.Start()
	t.Cleanup(hs.Close)
	b := ts.Backend
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Tokens.Put(ctx, "t1", "op", auth.HashToken("tok-op"), time.Hour); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = b.Commands.Consume(ctx, "t1", "owner", func(cctx context.Context, c cluster.Command) error {
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-cctx.Done():
				return nil
			}
			return b.Commands.Reply(cctx, c.Tenant, c.ID, cluster.CommandResult{Status: 200, Data: []byte(`{"uniqueid":"1.2"}`)})
		})
	}()
	req, _ := http.NewRequest("POST", hs.URL+"/webrest/astproxy/call", strings.NewReader(`{"number":"300"}`))
	req.Header.Set("Authorization", "op:tok-op")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), `"uniqueid":"1.2"`) {
		t.Fatalf("HTTP %d %s (%v), want 200 with the owner's answer", resp.StatusCode, body, err)
	}
}

// TestCallControlBusyIs429: the owner's refusal for too many pending
// commands of the user becomes 429 with Retry-After and a JSON error,
// counted as the pending_commands limit.
func TestCallControlBusyIs429(t *testing.T) {
	e := newCtlEnv(t, func(pbx.CommandArgs) *cluster.CommandResult {
		return &cluster.CommandResult{Status: 429, Error: "call: too many pending commands of this user (at most 4)"}
	})
	req, _ := http.NewRequest("POST", e.url+"/webrest/astproxy/call", strings.NewReader(`{"number":"300"}`))
	req.Header.Set("Authorization", "op:tok-op")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(string(body), `"code":429`) {
		t.Fatalf("HTTP %d, Retry-After %q, %s %s; want 429 with Retry-After and a JSON error",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
	if n := testutil.ToFloat64(e.srv.Metrics().LimitRejects.WithLabelValues("t1", "pending_commands")); n != 1 {
		t.Fatalf("ctiws_limit_rejects_total{limit=pending_commands} = %v, want 1", n)
	}
}
