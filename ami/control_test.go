package ami

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// simRunner connects a Runner to a simulated PBX without generated
// traffic and waits for its first snapshot.
func simRunner(t *testing.T) (*sim.Server, *Runner) {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.CallsPerSecond = 0
	cfg.AvgRingTime = 400 * time.Millisecond
	cfg.AvgCallDuration = 10 * time.Minute // calls outlive the test (at least a tenth of it)
	s := sim.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = s.Serve(ctx, ln) }()
	objs := &Objects{Trunks: map[string]TrunkConfig{"trunk1": {Name: "Provider"}}}
	r := NewRunner(Config{Address: ln.Addr().String(), Username: cfg.Username, Secret: cfg.Secret, Tenant: "t1",
		PingInterval: time.Minute, ReconcileInterval: -1}, testDirectory(t), objs, nil, Hooks{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx, func(context.Context, []cluster.Event) error { return nil })
	}()
	t.Cleanup(func() { cancel(); <-done; _ = s.Close() })
	waitUntil(t, "the first snapshot", func() bool { return r.getConn() != nil })
	return s, r
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// conv returns the connected conversation of ext with peer (by channel
// name part), or false.
func conv(r *Runner, ext, peer string) (pbx.Conversation, bool) {
	m := r.model
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.exts[ext]
	if e == nil {
		return pbx.Conversation{}, false
	}
	for id, c := range m.extensionWithConvs(e).Conversations {
		if c.Connected && strings.Contains(id, "PJSIP/"+peer+"-") {
			return c, true
		}
	}
	return pbx.Conversation{}, false
}

func doCmd(t *testing.T, r *Runner, a pbx.CommandArgs) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.Do(ctx, cluster.NewCommand("t1", "alice", a))
	return err
}

// TestControlOnSimulatedPBX carries out every call control command on the
// simulated PBX and checks what the model sees.
func TestControlOnSimulatedPBX(t *testing.T) {
	srv, r := simRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, err := r.Do(ctx, cluster.NewCommand("t1", "alice", pbx.Call{Exten: "201", Number: "202"}))
	if err != nil || !strings.Contains(string(data), `"uniqueid":"`) {
		t.Fatalf("call: %s %v", data, err)
	}
	var c pbx.Conversation
	waitUntil(t, "201 talking to 202", func() (ok bool) { c, ok = conv(r, "201", "202"); return })
	ref := pbx.Conv{Exten: "201", ConvID: c.ID}
	recording := func(want string) func() bool {
		return func() bool { c, ok := conv(r, "201", "202"); return ok && c.Recording == want }
	}
	for _, step := range []struct {
		a    pbx.CommandArgs
		want string
	}{
		{pbx.StartRecord{Conv: ref}, "true"},
		{pbx.MuteRecord{Conv: ref}, "mute"},
		{pbx.UnmuteRecord{Conv: ref}, "true"},
		{pbx.StopRecord{Conv: ref}, "false"},
	} {
		if err := doCmd(t, r, step.a); err != nil {
			t.Fatalf("%s: %v", step.a.CommandName(), err)
		}
		waitUntil(t, "recording "+step.want, recording(step.want))
	}
	if err := doCmd(t, r, pbx.StopRecord{Conv: ref}); !errors.Is(err, cluster.ErrCommandForbidden) {
		t.Errorf("stop of a stopped recording: %v", err)
	}
	if err := doCmd(t, r, pbx.Listen{Conv: ref, Dest: "203"}); err != nil {
		t.Errorf("listen: %v", err)
	}
	// The spy's phone is told whom it listens to (the spied extension), not
	// "<unknown>" (which Asterisk takes as the number "unknown").
	acts, _, _ := srv.ReceivedActions(0)
	spyCID := ""
	for _, a := range acts {
		if strings.EqualFold(a.Get("Action"), "Originate") && a.Get("Application") == "ChanSpy" {
			spyCID = a.Get("CallerID")
		}
	}
	if want := `"Alice Smith" <201>`; spyCID != want {
		t.Errorf("spy Originate CallerID %q, want %q", spyCID, want)
	}
	// Park: 201 parks 202 and leaves; 203 picks the call up.
	if err := doCmd(t, r, pbx.Park{Conv: ref, Applicant: "203"}); !errors.Is(err, cluster.ErrCommandForbidden) {
		t.Errorf("park by a stranger: %v", err)
	}
	if err := doCmd(t, r, pbx.Park{Conv: ref, Applicant: "201"}); err != nil {
		t.Fatalf("park: %v", err)
	}
	parked := func() (pc pbx.ParkedCaller) {
		r.model.mu.Lock()
		defer r.model.mu.Unlock()
		if p := r.model.parkings["71"]; p != nil {
			pc = p.ParkedCaller
		}
		return pc
	}
	waitUntil(t, "202 parked in 71", func() bool { return strings.HasPrefix(parked().Channel, "PJSIP/202-") })
	if got := parked(); got.ParkeeNum != "201" {
		t.Errorf("parkeeNum %q, want the parker 201", got.ParkeeNum)
	}
	if err := doCmd(t, r, pbx.PickupParking{Parking: "71", Dest: "203"}); err != nil {
		t.Fatalf("pickup parking: %v", err)
	}
	waitUntil(t, "parking 71 free", func() bool { return parked().Channel == "" })
	waitUntil(t, "203 talking to 202", func() bool { _, ok := conv(r, "203", "202"); return ok })
	if err := doCmd(t, r, pbx.PickupParking{Parking: "71", Dest: "203"}); !errors.Is(err, cluster.ErrCommandNotFound) {
		t.Errorf("pickup of an empty parking: %v", err)
	}
	// Blind transfer: 203 sends 202 to 201.
	c, _ = conv(r, "203", "202")
	if err := doCmd(t, r, pbx.BlindTransfer{Conv: pbx.Conv{Exten: "203", ConvID: c.ID}, To: "201"}); err != nil {
		t.Fatalf("blind transfer: %v", err)
	}
	waitUntil(t, "202 talking to 201", func() bool { _, ok := conv(r, "202", "201"); return ok })
	// Attended transfer: 201 hands 202 over to 203.
	c, _ = conv(r, "201", "202")
	if err := doCmd(t, r, pbx.AttendedTransfer{Conv: pbx.Conv{Exten: "201", ConvID: c.ID}, To: "203"}); err != nil {
		t.Fatalf("attended transfer: %v", err)
	}
	waitUntil(t, "202 talking to 203", func() bool { _, ok := conv(r, "202", "203"); return ok })
	// Hangup.
	c, _ = conv(r, "203", "202")
	if err := doCmd(t, r, pbx.Hangup{Conv: pbx.Conv{Exten: "203", ConvID: c.ID}}); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	waitUntil(t, "203 idle", func() bool { _, ok := conv(r, "203", "202"); return !ok })
	if err := doCmd(t, r, pbx.Hangup{Conv: pbx.Conv{Exten: "203", ConvID: c.ID}}); !errors.Is(err, cluster.ErrCommandNotFound) {
		t.Errorf("hangup of a gone conversation: %v", err)
	}
}

// TestControlInjection: no call control input reaches the PBX as anything
// but the validated values; refused commands send no action at all.
func TestControlInjection(t *testing.T) {
	s, r := simRunner(t)
	const evil = "\r\nAction: Originate\r\nChannel: PJSIP/666\r\n"
	bad := []pbx.CommandArgs{
		pbx.Call{Exten: "201", Number: "202" + evil},
		pbx.Call{Exten: "201" + evil, Number: "202"},
		pbx.Call{Exten: "201", Number: "2 02"},
		pbx.Call{Exten: "999", Number: "202"},
		pbx.Call{Exten: "201", Number: "202,1"},
		pbx.PickupConv{Exten: "202" + evil, Dest: "201"},
		pbx.PickupConv{Exten: "202", Dest: "201" + evil},
		pbx.Hangup{Conv: pbx.Conv{Exten: "201", ConvID: "PJSIP/201-00000001>" + evil}},
		pbx.Hangup{Conv: pbx.Conv{Exten: "201" + evil, ConvID: "x"}},
		pbx.BlindTransfer{Conv: pbx.Conv{Exten: "201", ConvID: "x"}, To: "203" + evil},
		pbx.AttendedTransfer{Conv: pbx.Conv{Exten: "201", ConvID: "x"}, To: "203#" + evil},
		pbx.Park{Conv: pbx.Conv{Exten: "201", ConvID: "x"}, Applicant: "201" + evil},
		pbx.PickupParking{Parking: "71" + evil, Dest: "201"},
		pbx.PickupParking{Parking: "71", Dest: "201" + evil},
		pbx.StartRecord{Conv: pbx.Conv{Exten: "201", ConvID: evil}},
		pbx.MuteRecord{Conv: pbx.Conv{Exten: "201" + evil, ConvID: "x"}},
		pbx.UnmuteRecord{Conv: pbx.Conv{Exten: "201", ConvID: "x" + evil}},
		pbx.StopRecord{Conv: pbx.Conv{Exten: "201" + evil, ConvID: "x"}},
		pbx.Intrude{Conv: pbx.Conv{Exten: "201", ConvID: "x"}, Dest: "203" + evil},
		pbx.Listen{Conv: pbx.Conv{Exten: "201" + evil, ConvID: "x"}, Dest: "203"},
	}
	_, since, _ := s.ReceivedActions(0)
	for _, a := range bad {
		if err := doCmd(t, r, a); err == nil {
			t.Errorf("%s %+v: no error", a.CommandName(), a)
		}
	}
	if msgs, _, _ := s.ReceivedActions(since); len(msgs) != 0 {
		t.Fatalf("refused commands reached the PBX: %+v", msgs)
	}
	// A raw command with an unknown kind or extra fields is refused too.
	for _, c := range []cluster.Command{
		{Tenant: "t1", Name: "originate", Args: []byte(`{"exten":"201","number":"202"}`)},
		{Tenant: "t1", Name: pbx.CmdCall, Args: []byte(`{"exten":"201","number":"202","channel":"PJSIP/666"}`)},
	} {
		if _, err := r.Do(context.Background(), c); err == nil {
			t.Errorf("%s %s: no error", c.Name, c.Args)
		}
	}
	if msgs, _, _ := s.ReceivedActions(since); len(msgs) != 0 {
		t.Fatalf("refused commands reached the PBX: %+v", msgs)
	}
	// A good command sends only clean headers.
	if err := doCmd(t, r, pbx.Call{Exten: "201", Number: "202"}); err != nil {
		t.Fatal(err)
	}
	msgs, _, _ := s.ReceivedActions(since)
	if len(msgs) != 1 || msgs[0].Get("Action") != "Originate" || msgs[0].Get("Channel") != "PJSIP/201" {
		t.Fatalf("sent %+v, want one Originate from PJSIP/201", msgs)
	}
	for _, h := range msgs[0].Headers {
		if strings.ContainsAny(h.Value, "\r\n") || strings.Contains(h.Value, "666") {
			t.Errorf("header %s = %q", h.Key, h.Value)
		}
	}
}

// TestChannelGoneAnswers: the error answers by which Asterisk 22 says that
// an action's channel does not exist are told apart from other refusals.
func TestChannelGoneAnswers(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		gone bool
	}{
		{"No such channel", true},                              // Hangup, Setvar, MixMonitor, StopMixMonitor, MixMonitorMute
		{"Channel specified does not exist", true},             // BlindTransfer, Atxfer
		{"Channel does not exist: PJSIP/201-0000000a", true},   // Redirect, Park
		{"Channel not found", true},                            // PlayDTMF
		{"Redirect failed, channel not up.", true},             // Redirect of a channel being hung up
		{"no such channel", true},                              // case does not matter
		{"No channel specified", false},                        // a request error, not a gone channel
		{"Channel not specified", false},                       // Park, Redirect without Channel
		{"Invalid channel", false},                             // Originate
		{"Permission denied", false},                           //
		{"No attended transfer feature code found", false},     // Atxfer on a PBX without the feature
		{"Channel1 does not exist: PJSIP/201-0000000a", false}, // Bridge: not an action ctiws sends
		{"Could not start monitoring channel", false},          // MixMonitor failed on a live channel
		{"Unable to add interface: Already there", false},      // QueueAdd
		{"", false},
	} {
		resp := &Response{Message: goami2.NewMessage()}
		resp.AddField("Response", "Error")
		resp.AddField("Message", tt.msg)
		err := resp.Err()
		if !errors.Is(err, ErrActionFailed) || errors.Is(err, ErrChannelGone) != tt.gone {
			t.Errorf("%q: %v, want channel gone %v", tt.msg, err, tt.gone)
		}
	}
}

// TestControlOnGoneChannel: the model still has a conversation whose
// channels the PBX no longer has (their Hangup events are on their way):
// every command on it is a 404 (cluster.ErrCommandNotFound), not a 500.
func TestControlOnGoneChannel(t *testing.T) {
	_, r := simRunner(t)
	// A call the simulator never had: its events up to the answer only.
	var evs []*goami2.Message
	for _, m := range callMix(4000) {
		if m.Field("Event") == "Hangup" || m.Field("Event") == "BridgeLeave" {
			break
		}
		evs = append(evs, m)
	}
	r.model.Apply(nil, evs...)
	var c pbx.Conversation
	waitUntil(t, "the phantom conversation", func() (ok bool) { c, ok = conv(r, "201", "202"); return })
	ref := pbx.Conv{Exten: "201", ConvID: c.ID}
	for _, a := range []pbx.CommandArgs{
		pbx.Hangup{Conv: ref},
		pbx.BlindTransfer{Conv: ref, To: "203"},
		pbx.AttendedTransfer{Conv: ref, To: "203"},
		pbx.Park{Conv: ref, Applicant: "201"},
		pbx.StartRecord{Conv: ref},
	} {
		if err := doCmd(t, r, a); !errors.Is(err, cluster.ErrCommandNotFound) || cluster.ResultOf(nil, err).Status != 404 {
			t.Errorf("%s on a gone channel: %v, want a 404 (ErrCommandNotFound)", a.CommandName(), err)
		}
	}
}
