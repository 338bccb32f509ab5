package ws_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
)

// Call control users: adm (201) has every presence-panel admin permission;
// op (202) may record and pick up parkings on its own phone and manages
// queue 401; basic (203) has none of them.
const ctlUsers = `{
 "adm":   {"name":"Adm","profile_id":"1","endpoints":{"mainextension":{"201":{}},"extension":{"201":{"type":"physical"}}}},
 "op":    {"name":"Op","profile_id":"2","endpoints":{"mainextension":{"202":{}},"extension":{"202":{"type":"physical"}}}},
 "basic": {"name":"Basic","profile_id":"3","endpoints":{"mainextension":{"203":{}},"extension":{"203":{"type":"physical"}}}}
}`

const ctlProfiles = `{
 "1":{"id":"1","macro_permissions":{
   "presence_panel":{"value":true,"permissions":{"ad_phone":{"value":true},"hangup":{"value":true},"transfer":{"value":true},
     "ad_parking":{"value":true},"ad_recording":{"value":true},"pickup":{"value":true},"intrude":{"value":true},"spy":{"value":true}}},
   "settings":{"value":true,"permissions":{"parkings":{"value":true},"recording":{"value":true}}}}},
 "2":{"id":"2","macro_permissions":{
   "presence_panel":{"value":true},
   "settings":{"value":true,"permissions":{"parkings":{"value":true},"recording":{"value":true}}},
   "qmanager":{"value":true,"permissions":{"qmanager_401":{"name":"qmanager_401","value":true}}}}},
 "3":{"id":"3","macro_permissions":{"presence_panel":{"value":true}}}
}`

// ctlEnv is a node with a fake PBX owner that answers every awaited
// command with reply (nil: no answer).
type ctlEnv struct {
	url string
	srv *ws.Server
	b   cluster.Backend
	mu  sync.Mutex
	got []pbx.CommandArgs
}

func newCtlEnv(t *testing.T, reply func(pbx.CommandArgs) *cluster.CommandResult) *ctlEnv {
	t.Helper()
	dir, err := directory.Parse([]byte(ctlUsers), []byte(ctlProfiles))
	if err != nil {
		t.Fatal(err)
	}
	ts := ws.StartTestServer(t, ws.Options{CommandWait: 600 * time.Millisecond,
		Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true})}})
	hs, b := ts.HTTP, ts.Backend
	ctx, cancel := context.WithCancel(context.Background())
	e := &ctlEnv{url: hs.URL, srv: ts.Srv, b: b}
	owner := make(chan struct{})
	go func() {
		defer close(owner)
		_ = b.Commands.Consume(ctx, "t1", "owner", func(cctx context.Context, c cluster.Command) error {
			a, err := pbx.DecodeCommand(c.Name, c.Args)
			if err != nil {
				t.Errorf("undecodable command %+v: %v", c, err)
				return nil
			}
			e.mu.Lock()
			e.got = append(e.got, a)
			e.mu.Unlock()
			if !c.Reply || c.Expires == 0 {
				t.Errorf("call control command %s not awaited (reply %v, expires %d)", c.Name, c.Reply, c.Expires)
			}
			if r := reply(a); r != nil {
				_ = b.Commands.Reply(cctx, c.Tenant, c.ID, *r)
			}
			return nil
		})
	}()
	for _, u := range []string{"adm", "op", "basic"} {
		if err := b.Tokens.Put(ctx, "t1", u, auth.HashToken("tok-"+u), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		cancel()
		<-owner
	})
	return e
}

func (e *ctlEnv) post(t *testing.T, user, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/webrest/astproxy/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", user+":tok-"+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (e *ctlEnv) take() []pbx.CommandArgs {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	return out
}

// TestCallControlREST: the original's permission rules, the owner's result
// as the HTTP answer, and no command queued for a refused request.
func TestCallControlREST(t *testing.T) {
	ok := &cluster.CommandResult{Status: 200}
	e := newCtlEnv(t, func(a pbx.CommandArgs) *cluster.CommandResult {
		switch x := a.(type) {
		case pbx.Call:
			if x.Exten == "203" {
				return nil // the owner never answers: 504
			}
			return &cluster.CommandResult{Status: 200, Data: json.RawMessage(`{"uniqueid":"1712825400.7"}`)}
		case pbx.Hangup:
			if x.ConvID == "gone" {
				return &cluster.CommandResult{Status: 404, Error: "extension 202 has no such conversation"}
			}
		case pbx.BlindTransfer:
			return &cluster.CommandResult{Status: 500, Error: "ami: BlindTransfer refused by the PBX: Transfer failed"}
		}
		return ok
	})
	conv := `"convid":"PJSIP/202-00000001>PJSIP/201-00000002"`
	tests := []struct {
		name, user, path, body string
		want                   int
		wantBody               string
		cmd                    pbx.CommandArgs // the command the owner gets (nil: none)
	}{
		{"call own phone", "op", "call", `{"number":"+39 0721 405516"}`, 200, `{"uniqueid":"1712825400.7"}`,
			pbx.Call{Exten: "202", Number: "00390721405516"}},
		{"call from another's phone", "op", "call", `{"endpointId":"201","endpointType":"extension","number":"300"}`, 403, "", nil},
		{"call from another's phone with ad_phone", "adm", "call", `{"endpointId":"202","endpointType":"extension","number":"300"}`, 200, "",
			pbx.Call{Exten: "202", Number: "300"}},
		{"call bad number", "op", "call", `{"number":"abc"}`, 400, "", nil},
		{"call number with an action after CRLF", "op", "call", `{"number":"333\r\n\r\nAction: DBPut\r\nFamily: DND\r\nKey: 205\r\nVal: YES"}`, 400, "", nil},
		{"call number with a letter", "op", "call", `{"number":"333x205"}`, 400, "", nil},
		{"call number people type", "op", "call", `{"number":"(0721) 40.55-16"}`, 200, "", pbx.Call{Exten: "202", Number: "0721405516"}},
		{"call cellphone endpoint", "op", "call", `{"endpointId":"3331234567","endpointType":"cellphone","number":"300"}`, 400, "", nil},
		{"call owner silent", "basic", "call", `{"number":"300"}`, 504, "", pbx.Call{Exten: "203", Number: "300"}},
		{"hangup own", "op", "hangup", `{` + conv + `,"endpointId":"202"}`, 200, `{"message":"ok"}`,
			pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}}},
		{"hangup gone", "op", "hangup", `{"convid":"gone","endpointId":"202"}`, 404, "no such conversation",
			pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "gone"}}},
		{"hangup another's", "op", "hangup", `{` + conv + `,"endpointId":"201"}`, 403, "", nil},
		{"hangup another's as admin", "adm", "hangup", `{` + conv + `,"endpointId":"202"}`, 200, "",
			pbx.Hangup{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}}},
		{"hangup bad endpoint", "op", "hangup", `{` + conv + `,"endpointId":"202\r\nAction: Hangup"}`, 400, "", nil},
		{"hangup missing convid", "op", "hangup", `{"endpointId":"202"}`, 400, "", nil},
		{"blind transfer bad number", "op", "blindtransfer", `{` + conv + `,"endpointId":"202","to":"x"}`, 400, "", nil},
		{"attended transfer to junk after CRLF", "op", "atxfer", `{` + conv + `,"endpointId":"202","to":"203\r\nAction: DBPut\r\nKey: 204\r\nVal: 1"}`, 400, "", nil},
		{"blind transfer failed by the PBX", "op", "blindtransfer", `{` + conv + `,"endpointId":"202","to":"204"}`, 500, "Transfer failed",
			pbx.BlindTransfer{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}, To: "204"}},
		{"attended transfer own", "op", "atxfer", `{` + conv + `,"endpointId":"202","to":"204"}`, 200, "",
			pbx.AttendedTransfer{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}, To: "204"}},
		{"attended transfer another's", "basic", "atxfer", `{` + conv + `,"endpointId":"202","to":"204"}`, 403, "", nil},
		{"park for another applicant", "op", "park", `{` + conv + `,"endpointId":"202","applicantId":"201"}`, 403, "", nil},
		{"park own", "op", "park", `{` + conv + `,"endpointId":"201","applicantId":"202"}`, 200, "",
			pbx.Park{Conv: pbx.Conv{Exten: "201", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}, Applicant: "202"}},
		{"pickup parking without permission", "basic", "pickup_parking", `{"parking":"71","destId":"203"}`, 403, "", nil},
		{"pickup parking to another phone", "op", "pickup_parking", `{"parking":"71","destId":"201"}`, 403, "", nil},
		{"pickup parking", "op", "pickup_parking", `{"parking":"71","destId":"202"}`, 200, "", pbx.PickupParking{Parking: "71", Dest: "202"}},
		{"pickup conv without permission", "op", "pickup_conv", `{"endpointId":"201","destId":"202"}`, 403, "", nil},
		{"pickup conv to another phone", "adm", "pickup_conv", `{"endpointId":"203","destId":"202"}`, 403, "", nil},
		{"pickup conv", "adm", "pickup_conv", `{"endpointId":"203","destId":"201"}`, 200, "", pbx.PickupConv{Exten: "203", Dest: "201"}},
		{"record without permission", "basic", "start_record", `{` + conv + `,"endpointId":"203"}`, 403, "", nil},
		{"stop record without permission", "basic", "stop_record", `{` + conv + `,"endpointId":"203"}`, 403, "", nil},
		{"record another's", "op", "start_record", `{` + conv + `,"endpointId":"201"}`, 403, "", nil},
		{"record own", "op", "start_record", `{` + conv + `,"endpointId":"202"}`, 200, "",
			pbx.StartRecord{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}}},
		{"mute record as admin", "adm", "mute_record", `{` + conv + `,"endpointId":"202"}`, 200, "",
			pbx.MuteRecord{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}}},
		{"intrude without permission", "basic", "intrude", `{` + conv + `,"endpointId":"202","destId":"203"}`, 403, "", nil},
		{"intrude from another's phone", "adm", "intrude", `{` + conv + `,"endpointId":"202","destId":"203"}`, 403, "", nil},
		{"intrude", "adm", "intrude", `{` + conv + `,"endpointId":"202","destId":"201"}`, 200, "",
			pbx.Intrude{Conv: pbx.Conv{Exten: "202", ConvID: "PJSIP/202-00000001>PJSIP/201-00000002"}, Dest: "201"}},
		{"listen to a non-agent as qmanager", "op", "start_spy", `{` + conv + `,"endpointId":"201","destId":"202"}`, 403, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := e.post(t, tt.user, tt.path, tt.body)
			if st != tt.want {
				t.Fatalf("HTTP %d (%s), want %d", st, body, tt.want)
			}
			if tt.wantBody != "" && !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %s, want %s in it", body, tt.wantBody)
			}
			got := e.take()
			switch {
			case tt.cmd == nil && len(got) > 0:
				t.Errorf("refused request queued %+v", got)
			case tt.cmd != nil && (len(got) != 1 || got[0] != tt.cmd):
				t.Errorf("owner got %+v, want %+v", got, tt.cmd)
			}
		})
	}
}

// TestCallControlQManager: a qmanager of queue 401 may listen to its
// agents (membership read from the PBX state).
func TestCallControlQManager(t *testing.T) {
	e := newCtlEnv(t, func(pbx.CommandArgs) *cluster.CommandResult { return &cluster.CommandResult{Status: 200} })
	ctx := context.Background()
	l, ok, err := e.b.Ownership.Acquire(ctx, "t1", "owner", time.Minute)
	if err != nil || !ok {
		t.Fatal(err)
	}
	err = e.b.Bus.PublishFenced(ctx, l, []cluster.Event{{Tenant: "t1", Name: pbx.EvQueueMemberChanged,
		Key: pbx.KeyQueueMember + "401/203", Data: json.RawMessage(`{"member":"203","queue":"401"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	conv := `"convid":"PJSIP/203-00000001>PJSIP/201-00000002"`
	if st, body := e.post(t, "op", "start_spy", `{`+conv+`,"endpointId":"203","destId":"202"}`); st != 200 {
		t.Fatalf("qmanager listen: HTTP %d %s", st, body)
	}
	if st, _ := e.post(t, "op", "intrude", `{`+conv+`,"endpointId":"201","destId":"202"}`); st != 403 {
		t.Fatalf("qmanager intrude on a non-agent: HTTP %d, want 403", st)
	}
	want := pbx.Listen{Conv: pbx.Conv{Exten: "203", ConvID: "PJSIP/203-00000001>PJSIP/201-00000002"}, Dest: "202"}
	if got := e.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("owner got %+v", got)
	}
}
