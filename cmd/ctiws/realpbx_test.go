package main

// The real-PBX suite (issue 23): everyday flows run live against a real
// Asterisk 22 configured like a NethVoice PBX (internal/asterisk), with SIPp
// phones (internal/sipp), two ctiws nodes and a real redis-server, and
// clients of four profiles. Each flow checks what every client sees against
// what the PBX really did (its channels and device states, read over its
// CLI), then writes the AMI stream and the clients' views into
// testdata/realpbx/flows/ when run with -record; TestRealPBXReplay replays
// those captures on every machine. `make realpbx` builds Asterisk
// (scripts/asterisk-build.sh) and runs this suite alone; docs/real-pbx.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	"github.com/ctiws/ctiws/internal/asterisk"
	"github.com/ctiws/ctiws/internal/sipp"
	"github.com/ctiws/ctiws/ws/auth"
)

var recordFlows = flag.Bool("record", false, "TestRealPBX: write each flow's AMI transcript and client views into testdata/realpbx/flows")

// realUsers are the lab's users (testdata/realpbx/users.json): alice has no
// privacy and every permission (201 with a WebRTC 91201 and a mobile 92201),
// bob is a queue operator with privacy and queue auto-login (202), carol a
// supervisor with privacy (203), dave a basic user with privacy (204).
var realUsers = []string{"alice", "bob", "carol", "dave"}

// labPhones are the lab's registered devices (205 never registers).
var labPhones = []string{"201", "91201", "92201", "202", "203", "204"}

// labExtens are the extensions whose state the suite checks.
var labExtens = []string{"201", "91201", "92201", "202", "203", "204", "205"}

const realTenant = "lab"

// realLab is the whole live set-up, shared by the flows of one run.
type realLab struct {
	t      *testing.T
	pbx    *asterisk.PBX
	rec    *amiRecorder
	c      *testCluster
	phones map[string]*sipp.Phone
	trunk  *sipp.Phone
	views  map[string]*liveView
}

func newRealLab(t *testing.T, prefix string) *realLab {
	t.Helper()
	var astLog bytes.Buffer
	var logMu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pbx, err := asterisk.Start(ctx, asterisk.Options{Prefix: prefix, Dir: t.TempDir(), Log: lockedWriter{&logMu, &astLog}, ParkingTimeout: 8 * time.Second})
	if err != nil {
		t.Fatalf("start Asterisk: %v", err)
	}
	t.Cleanup(func() {
		_ = pbx.Close()
		if t.Failed() {
			logMu.Lock()
			t.Logf("--- Asterisk log (tail) ---\n%s", tail(astLog.String(), 6000))
			logMu.Unlock()
		}
	})
	l := &realLab{t: t, pbx: pbx, phones: map[string]*sipp.Phone{}, views: map[string]*liveView{}}
	l.rec = startAMIRecorder(t, pbx.AMIAddr())

	srv := redisserver.Start(t)
	l.c = &testCluster{t: t, dir: t.TempDir(), redisURL: srv.URL(), redis: srv, tenants: []string{realTenant},
		tenantYAML: map[string]string{}, lease: testLeaseTTL}
	lab, _ := filepath.Abs(filepath.Join("testdata", "realpbx"))
	l.c.tenantYAML[realTenant] = fmt.Sprintf(`  - id: %s
    hosts: [%s.test]
    ami: {address: %q, username: %s, secret: %s}
    privacy_numbers: "xxx"
    auth: {jwt_secret: %q}
    users_file: %s/users.json
    profiles_file: %s/profiles.json
    objects_file: %s/objects.json
`, realTenant, realTenant, l.rec.addr(), pbx.AMIUser(), pbx.AMISecret(), tenantJWT(realTenant), lab, lab, lab)

	for _, ext := range labPhones {
		p, err := sipp.NewPhone(ext, "pw"+ext, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		l.phones[ext] = p
	}
	// The far end of the trunk: calls in come from this number.
	l.trunk = &sipp.Phone{Ext: "0612345678", Addr: pbx.TrunkAddr()}
	for _, ext := range labPhones {
		l.register(ext, 3600)
	}

	for i := 0; i < 2; i++ {
		n := &nodeProc{t: t, name: fmt.Sprintf("node%d", i), listen: freeAddr(t), metrics: freeAddr(t)}
		n.config = filepath.Join(l.c.dir, n.name+".yaml")
		l.c.writeConfig(n, l.c.tenants)
		startNode(t, n, n.config)
		l.c.nodes = append(l.c.nodes, n)
	}
	for _, n := range l.c.nodes {
		l.c.eventually(n.name+" ready", 20*time.Second, n.ready)
	}
	l.c.eventually("an owner of the lab PBX", 20*time.Second, func() bool { return l.c.owner(realTenant) != nil })
	// Users on both nodes: every flow also checks cross-node delivery.
	for i, u := range realUsers {
		l.views[u] = l.connectView(l.c.nodes[i%2], u)
	}
	return l
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// register (re-)registers a phone; expires 0 unregisters it.
func (l *realLab) register(ext string, expires int) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := l.phones[ext].Register(ctx, l.pbx.SIPAddr(), expires); err != nil {
		l.t.Fatalf("register %s (expires %d): %v", ext, expires, err)
	}
}

// token is a JWT for user on the lab tenant.
func (l *realLab) token(user string) string {
	tok, err := auth.SignJWT(user, realTenant, []byte(tenantJWT(realTenant)), time.Hour, time.Now())
	if err != nil {
		l.t.Fatal(err)
	}
	return tok
}

// rest calls a REST route as user on node i.
func (l *realLab) rest(i int, user, method, path, body string) (int, []byte) {
	l.t.Helper()
	req, _ := http.NewRequest(method, "http://"+l.c.nodes[i].listen+path, strings.NewReader(body))
	req.Host = realTenant + ".test"
	req.Header.Set("Authorization", "Bearer "+l.token(user))
	req.Header.Set("Content-Type", "application/json")
	c := http.Client{Timeout: 30 * time.Second}
	r, err := c.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, b
}

// pbxChannel is one line of `core show channels concise`.
type pbxChannel struct {
	Name, Context, Exten, State, App, Data, CallerID, BridgeID string
}

// pbxState is what the PBX says at one instant.
type pbxState struct {
	Channels []pbxChannel
	// Contacts are the registered devices (pjsip show contacts).
	Contacts map[string]bool
}

// channelsOf returns the PBX's channels of device ext (PJSIP/<ext>-…).
func (s pbxState) channelsOf(ext string) []pbxChannel {
	var out []pbxChannel
	for _, c := range s.Channels {
		if strings.HasPrefix(c.Name, "PJSIP/"+ext+"-") {
			out = append(out, c)
		}
	}
	return out
}

// state reads the PBX's channels and contacts over its CLI.
func (l *realLab) state() pbxState {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.pbx.CLI(ctx, "core show channels concise")
	if err != nil {
		l.t.Fatalf("core show channels: %v", err)
	}
	st := pbxState{Contacts: map[string]bool{}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "!")
		if len(f) < 13 {
			continue
		}
		st.Channels = append(st.Channels, pbxChannel{Name: f[0], Context: f[1], Exten: f[2], State: f[4], App: f[5], Data: f[6], CallerID: f[7], BridgeID: f[12]})
	}
	out, err = l.pbx.CLI(ctx, "pjsip show contacts")
	if err != nil {
		l.t.Fatalf("pjsip show contacts: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Contact:" {
			aor, _, _ := strings.Cut(f[1], "/")
			st.Contacts[aor] = true
		}
	}
	return st
}

// waitPBX waits until the PBX's state satisfies cond.
func (l *realLab) waitPBX(t *testing.T, what string, d time.Duration, cond func(pbxState) bool) pbxState {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := l.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout (%v) waiting for the PBX: %s; channels now: %+v", d, what, st.Channels)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// idle is a PBX without channels.
func idle(s pbxState) bool { return len(s.Channels) == 0 }

// reset brings the PBX back to the suite's starting point between flows:
// no channels, no DND or call forward, every phone registered.
func (l *realLab) reset(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _ = l.pbx.CLI(ctx, "channel request hangup all")
	for _, fam := range []string{"DND", "CF", "CFB", "CFU"} {
		_, _ = l.pbx.CLI(ctx, "database deltree "+fam)
	}
	for _, ext := range labExtens {
		_, _ = l.pbx.CLI(ctx, "devstate change Custom:DND"+ext+" NOT_INUSE")
	}
	l.waitPBX(t, "no channels", 15*time.Second, idle)
	st := l.state()
	for _, ext := range labPhones {
		if !st.Contacts[ext] {
			l.register(ext, 3600)
		}
	}
}

// startFlow cuts the owner's AMI link so the flow's capture starts with a
// snapshot, waits until the owner has taken it, and marks the flow's start.
func (l *realLab) startFlow(t *testing.T) time.Time {
	t.Helper()
	owner := l.c.owner(realTenant)
	if owner == nil {
		t.Fatal("the lab PBX has no owner")
	}
	series := `ctiws_ami_snapshot_duration_seconds_count{tenant="` + realTenant + `"}`
	before := owner.metric(series)
	l.rec.cut()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := l.c.owner(realTenant)
		if o != nil && (o != owner || o.metric(series) > before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timeout (20s) waiting for the owner's new snapshot after the cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the snapshot's objects reach every node
	l.rec.markFlow()
	return time.Now()
}

// realFlow is one everyday flow.
type realFlow struct {
	name  string
	title string
	// commands: the flow uses REST commands whose effect the owner takes
	// from its own successful answer (presence): a replay, which has no
	// REST client, cannot reproduce the views and keeps its own golden.
	commands bool
	run      func(t *testing.T, f *flowRun)
}

// flowRun is one flow in progress.
type flowRun struct {
	*realLab
	start time.Time
	calls []*sipp.Call
}

// dial starts a call from device ext to number.
func (f *flowRun) dial(t *testing.T, ext, number string, s sipp.Script) *sipp.Call {
	t.Helper()
	ph := f.phones[ext]
	if ext == "trunk" {
		ph = f.trunk
	}
	c, err := ph.Dial(context.Background(), f.pbx.SIPAddr(), number, s)
	if err != nil {
		t.Fatalf("dial %s → %s: %v", ext, number, err)
	}
	f.calls = append(f.calls, c)
	return c
}

// answer makes device ext take the next call(s) as s says.
func (f *flowRun) answer(t *testing.T, ext string, s sipp.Script) *sipp.Call {
	t.Helper()
	ph := f.phones[ext]
	if ext == "trunk" {
		ph = f.trunk
	}
	c, err := ph.Receive(context.Background(), s)
	if err != nil {
		t.Fatalf("%s ready to answer: %v", ext, err)
	}
	f.calls = append(f.calls, c)
	return c
}

// wait waits for the SIPp calls to end as scripted.
func (f *flowRun) wait(t *testing.T, calls ...*sipp.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range calls {
		if err := c.Wait(ctx); err != nil {
			t.Errorf("phone: %v", err)
		}
	}
}

// run runs one flow: reset, capture start, the flow, the PBX idle again,
// the views consistent with the PBX, the capture written (with -record).
func (l *realLab) run(t *testing.T, fl realFlow) {
	l.reset(t)
	f := &flowRun{realLab: l}
	defer func() {
		for _, c := range f.calls {
			c.Stop()
		}
	}()
	f.start = l.startFlow(t)
	fl.run(t, f)
	if t.Failed() {
		return
	}
	l.waitPBX(t, "the flow's calls ended", 30*time.Second, idle)
	f.checkTruth(t, "at the end")
	if t.Failed() || !*recordFlows {
		return
	}
	time.Sleep(time.Second) // late events reach the clients
	dir := filepath.Join("testdata", "realpbx", "flows")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fl.name+".ami"), []byte(l.rec.transcript(fl.title)), 0o644); err != nil {
		t.Fatal(err)
	}
	views := map[string]flowView{}
	for _, u := range realUsers {
		views[u] = l.views[u].since(f.start)
	}
	b, _ := json.MarshalIndent(recordedFlow{Commands: fl.commands, Views: views}, "", " ")
	if err := os.WriteFile(filepath.Join(dir, fl.name+".view.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkTruth waits until alice's view (no privacy) agrees with the PBX for
// every lab extension: one conversation per channel of the device, and a
// status that follows the device's channels and registration.
func (f *flowRun) checkTruth(t *testing.T, when string) {
	t.Helper()
	var diff []string
	deadline := time.Now().Add(8 * time.Second)
	for {
		st := f.state()
		diff = diff[:0]
		v := f.views["alice"]
		for _, ext := range labExtens {
			e, ok := v.exten(ext)
			if !ok {
				diff = append(diff, ext+": never seen")
				continue
			}
			chans := st.channelsOf(ext)
			if len(e.Conversations) != len(chans) {
				diff = append(diff, fmt.Sprintf("%s: %d conversations, the PBX has %d channels", ext, len(e.Conversations), len(chans)))
			}
			if want := truthStatus(st, ext, chans); !statusAgrees(e.Status, want) {
				diff = append(diff, fmt.Sprintf("%s: status %s, the PBX says %s", ext, e.Status, want))
			}
		}
		if len(diff) == 0 {
			diff = f.checkProfiles()
		}
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s, the clients disagree with the PBX: %s", when, strings.Join(diff, "; "))
			return
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// privacyUsers are the lab's users with privacy and the extensions they
// own: they read numbers in their own calls in clear, every other number
// masked (carol, a supervisor, reads queue calls in clear and is left out).
var privacyUsers = map[string][]string{"bob": {"202"}, "dave": {"204"}}

// checkProfiles compares the privacy users' views with alice's (no
// privacy): the same statuses and conversations, numbers masked in other
// users' calls and clear in their own.
func (f *flowRun) checkProfiles() []string {
	var diff []string
	for user, own := range privacyUsers {
		for _, ext := range labExtens {
			want, _ := f.views["alice"].exten(ext)
			got, ok := f.views[user].exten(ext)
			if !ok {
				diff = append(diff, fmt.Sprintf("%s never saw %s", user, ext))
				continue
			}
			if got.Status != want.Status || len(got.Conversations) != len(want.Conversations) {
				diff = append(diff, fmt.Sprintf("%s sees %s %s with %d conversations, alice %s with %d", user, ext, got.Status, len(got.Conversations), want.Status, len(want.Conversations)))
				continue
			}
			mine := slices.Contains(own, ext)
			for id, c := range got.Conversations {
				clear := want.Conversations[id].CounterpartNum
				switch {
				case mine && c.CounterpartNum != clear:
					diff = append(diff, fmt.Sprintf("%s reads %q in its own call on %s, alice %q", user, c.CounterpartNum, ext, clear))
				case !mine && strings.ContainsAny(clear, "0123456789") && c.CounterpartNum != masked(clear):
					diff = append(diff, fmt.Sprintf("%s reads %q on %s: want %q masked", user, c.CounterpartNum, ext, clear))
				}
			}
		}
	}
	return diff
}

// truthStatus is what a device's status must be from the PBX's side.
func truthStatus(st pbxState, ext string, chans []pbxChannel) string {
	up, ringing := false, false
	for _, c := range chans {
		switch c.State {
		case "Up":
			up = true
		case "Ringing", "Ring":
			ringing = true
		}
	}
	switch {
	case up && ringing:
		return "busy_ringing"
	case up:
		return "busy"
	case ringing:
		return "ringing"
	case !st.Contacts[ext]:
		return "offline"
	}
	return "online"
}

// statusAgrees: a held call is busy to the PBX; dnd shows over online.
func statusAgrees(got, want string) bool {
	switch {
	case got == want:
		return true
	case want == "busy" && got == "onhold":
		return true
	case want == "online" && got == "dnd":
		return true
	}
	return false
}

func TestRealPBX(t *testing.T) {
	prefix := os.Getenv("CTIWS_ASTERISK_PREFIX")
	if prefix == "" {
		t.Skip("CTIWS_ASTERISK_PREFIX is not set: the real-PBX suite runs from `make realpbx` (docs/real-pbx.md)")
	}
	l := newRealLab(t, prefix)
	names := map[string]bool{}
	for _, fl := range realFlows {
		if names[fl.name] {
			t.Fatalf("two flows named %s", fl.name)
		}
		names[fl.name] = true
		t.Run(fl.name, func(t *testing.T) { l.run(t, fl) })
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
