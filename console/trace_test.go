package console

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
)

// TestTraceStream: the trace of a user streams the frames the node builds
// for that user with their cause, masked for a console user without the
// unmasked right.
func TestTraceStream(t *testing.T) {
	b, _, dir := tenantFixture(t)
	asked := make(chan bool, 4)
	_, srv := testConsole(t, func(o *Options) {
		o.Backend = b
		o.Directory = func(id string) (*directory.Directory, string, bool) { return dir, "xxx", id == "t1" }
		o.Trace = func(ctx context.Context, tenant, user string, masked bool, fn func([]byte, *cluster.Event)) error {
			asked <- masked
			go func() {
				for ctx.Err() == nil {
					fn([]byte(`42["extenUpdate",{"exten":"202"}]`), &cluster.Event{Name: "extenChanged", Key: "exten/202", Seq: 7})
					time.Sleep(20 * time.Millisecond)
				}
			}()
			return nil
		}
	})
	for _, tc := range []struct {
		user   string
		masked bool
	}{{"admin", false}, {"eve", true}} {
		t.Run(tc.user, func(t *testing.T) {
			cl := client(t)
			login(t, srv, cl, tc.user)
			if resp, page := get(t, cl, srv.URL+"/console/trace/t1/alice"); resp.StatusCode != 200 || !strings.Contains(page, `data-live="/console/trace/t1/alice/events"`) {
				t.Fatalf("trace page: %d", resp.StatusCode)
			}
			if resp, _ := get(t, cl, srv.URL+"/console/trace/t1/nobody"); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("unknown user: %d", resp.StatusCode)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/console/trace/t1/alice/events", nil)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if m := <-asked; m != tc.masked {
				t.Fatalf("traced masked=%v, want %v", m, tc.masked)
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					for _, want := range []string{`"name":"extenUpdate"`, `"cause":"extenChanged exten/202 #7"`, `"kind":"frame"`} {
						if !strings.Contains(line, want) {
							t.Fatalf("line %s lacks %s", line, want)
						}
					}
					return
				}
			}
			t.Fatalf("stream ended: %v", sc.Err())
		})
	}
	// Both traces are in the audit log, with what their viewer saw.
	log, err := b.Console.AuditLog(context.Background(), 10)
	if err != nil || len(log) != 2 || !strings.Contains(string(log[0]), `"user":"eve"`) || !strings.Contains(string(log[0]), "numbers masked") ||
		!strings.Contains(string(log[1]), `"action":"trace","target":"t1/alice","result":"started, numbers unmasked"`) {
		t.Fatalf("audit log %s (%v)", log, err)
	}
}
