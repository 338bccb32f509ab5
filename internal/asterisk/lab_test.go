package asterisk_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/asterisk"
	"github.com/ctiws/ctiws/internal/sipp"
)

// lab is a started PBX with registered phones, for one test.
type lab struct {
	pbx    *asterisk.PBX
	phones map[string]*sipp.Phone
}

// logBuffer is a goroutine-safe buffer for Asterisk's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLab starts the PBX (skipping the test without
// CTIWS_ASTERISK_PREFIX) and registers the given devices.
func startLab(t *testing.T, ctx context.Context, o asterisk.Options, devices ...string) *lab {
	t.Helper()
	prefix := os.Getenv("CTIWS_ASTERISK_PREFIX")
	if prefix == "" {
		t.Skip("CTIWS_ASTERISK_PREFIX is not set: the live PBX tests need an Asterisk built by scripts/asterisk-build.sh (its output is the prefix)")
	}
	var log logBuffer
	o.Prefix, o.Dir, o.Log = prefix, t.TempDir(), &log
	p, err := asterisk.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("asterisk log:\n%s", log.String())
		}
	})
	l := &lab{pbx: p, phones: map[string]*sipp.Phone{}}
	for _, d := range devices {
		ph, err := sipp.NewPhone(d, asterisk.Password(d), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := ph.Register(ctx, p.SIPAddr(), 300); err != nil {
			t.Fatal(err)
		}
		l.phones[d] = ph
	}
	return l
}

// cli runs a CLI command or fails the test.
func (l *lab) cli(t *testing.T, ctx context.Context, cmd string) string {
	t.Helper()
	out, err := l.pbx.CLI(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls a CLI command until its output contains want.
func (l *lab) eventually(t *testing.T, ctx context.Context, cmd, want string) string {
	t.Helper()
	var out string
	for {
		out = l.cli(t, ctx, cmd)
		if strings.Contains(out, want) {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%q never showed %q; last output:\n%s", cmd, want, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// receive starts a UAS on a registered phone.
func (l *lab) receive(t *testing.T, ctx context.Context, dev string, s sipp.Script) *sipp.Call {
	t.Helper()
	c, err := l.phones[dev].Receive(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// dial places a call from a registered phone.
func (l *lab) dial(t *testing.T, ctx context.Context, dev, number string, s sipp.Script) *sipp.Call {
	t.Helper()
	c, err := l.phones[dev].Dial(ctx, l.pbx.SIPAddr(), number, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// wait waits for calls to end and fails the test on a failed one.
func wait(t *testing.T, ctx context.Context, calls ...*sipp.Call) {
	t.Helper()
	for _, c := range calls {
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBasicCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "201", "91201", "92201", "202", "203", "204")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	out := l.cli(t, ctx, "pjsip show contacts")
	for _, d := range []string{"201", "91201", "92201", "202", "203", "204"} {
		if !strings.Contains(out, "Contact:  "+d+"/sip:"+d+"@") {
			t.Errorf("no contact for %s in:\n%s", d, out)
		}
	}
	in := l.receive(t, ctx, "203", sipp.Script{Ring: time.Second})
	call := l.dial(t, ctx, "202", "203", sipp.Script{Talk: 2 * time.Second})
	l.eventually(t, ctx, "core show channels concise", "PJSIP/203-")
	wait(t, ctx, call, in)
	ami.event(t, ctx, "DialBegin", "Channel", "PJSIP/202-", "DestChannel", "PJSIP/203-")
	ami.event(t, ctx, "BridgeEnter", "Channel", "PJSIP/203-")
	ami.event(t, ctx, "Hangup", "Channel", "PJSIP/202-")
	ami.event(t, ctx, "Hangup", "Channel", "PJSIP/203-")
	if !in.Answered() || !slices.Contains(in.Events(), "bye received") {
		t.Errorf("callee events %v", in.Events())
	}
}

// TestDND: *78 writes AstDB and Custom:DND the FreePBX way, a call to the
// user is refused busy, *79 clears both.
func TestDND(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "201", "202")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	wait(t, ctx, l.dial(t, ctx, "201", asterisk.DNDOn, sipp.Script{}))
	if out := l.cli(t, ctx, "database show DND"); !strings.Contains(out, "/DND/201") || !strings.Contains(out, "YES") {
		t.Fatalf("database show DND:\n%s", out)
	}
	ami.event(t, ctx, "Newexten", "AppData", "DB(DND/201)=YES")
	l.eventually(t, ctx, "devstate list", "'Custom:DND201'  State: 'BUSY'")
	wait(t, ctx, l.dial(t, ctx, "202", "201", sipp.Script{Expect: 486}))
	wait(t, ctx, l.dial(t, ctx, "201", asterisk.DNDOff, sipp.Script{}))
	ami.event(t, ctx, "Newexten", "AppData", "Deleting: DND/201")
	if out := l.cli(t, ctx, "database show DND"); strings.Contains(out, "/DND/201") {
		t.Fatalf("DND still set:\n%s", out)
	}
	l.eventually(t, ctx, "devstate list", "'Custom:DND201'  State: 'NOT_INUSE'")
}

// TestRingAll: dialling 201 rings the desk, WebRTC and mobile devices;
// one answers, the others are cancelled.
func TestRingAll(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "201", "91201", "92201", "202")
	desk := l.receive(t, ctx, "201", sipp.Script{NoAnswer: true})
	web := l.receive(t, ctx, "91201", sipp.Script{NoAnswer: true})
	mobile := l.receive(t, ctx, "92201", sipp.Script{Ring: time.Second})
	call := l.dial(t, ctx, "202", "201", sipp.Script{Talk: time.Second})
	wait(t, ctx, call, desk, web, mobile)
	if !mobile.Answered() {
		t.Errorf("mobile: %v", mobile.Events())
	}
	for _, c := range []*sipp.Call{desk, web} {
		if ev := c.Events(); !slices.Contains(ev, "invite") || !slices.Contains(ev, "cancelled") {
			t.Errorf("want rung then cancelled: %v", ev)
		}
	}
}

// TestTrunk: a call from the trunk peer (127.0.0.2) on DID 0721405516
// rings alice; a call to an external number goes out to the peer.
func TestTrunk(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "201", "202")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	peer := &sipp.Phone{Ext: "0612345678", Addr: l.pbx.TrunkAddr()}
	in := l.receive(t, ctx, "201", sipp.Script{Ring: 500 * time.Millisecond})
	c, err := peer.Dial(ctx, l.pbx.SIPAddr(), asterisk.DIDAlice, sipp.Script{Talk: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	wait(t, ctx, c, in)
	ami.event(t, ctx, "Newchannel", "Channel", "PJSIP/trunk1-", "Context", "from-pstn", "Exten", asterisk.DIDAlice)

	out, err := peer.Receive(ctx, sipp.Script{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Stop)
	wait(t, ctx, l.dial(t, ctx, "202", "0612345678", sipp.Script{Talk: time.Second}), out)
	ami.event(t, ctx, "DialBegin", "Channel", "PJSIP/202-", "DestChannel", "PJSIP/trunk1-")
}

// TestParkComeback: a blind transfer (REFER) to 70 parks the other party;
// after the parking timeout the call comes back to the parker.
func TestParkComeback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{ParkingTimeout: 3 * time.Second}, "202", "203")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	parked := l.receive(t, ctx, "203", sipp.Script{Ring: 300 * time.Millisecond})
	parker := l.dial(t, ctx, "202", "203", sipp.Script{Refer: asterisk.ParkExten})
	wait(t, ctx, parker)
	ami.event(t, ctx, "ParkedCall", "ParkeeChannel", "PJSIP/203-", "ParkingSpace", "71")
	back := l.receive(t, ctx, "202", sipp.Script{Ring: 300 * time.Millisecond, Talk: time.Second})
	ami.event(t, ctx, "ParkedCallTimeOut", "ParkeeChannel", "PJSIP/203-")
	wait(t, ctx, back, parked)
	t.Logf("parker %v, comeback %v, parked %v", parker.Events(), back.Events(), parked.Events())
	if !back.Answered() {
		t.Errorf("the comeback did not ring the parker: %v", back.Events())
	}
}

// TestConference: two phones join room 300.
func TestConference(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	a := l.dial(t, ctx, "202", asterisk.ConfRoom, sipp.Script{Talk: 3 * time.Second})
	b := l.dial(t, ctx, "203", asterisk.ConfRoom, sipp.Script{Talk: 3 * time.Second})
	ami.event(t, ctx, "ConfbridgeJoin", "Conference", "300", "Channel", "PJSIP/202-")
	ami.event(t, ctx, "ConfbridgeJoin", "Conference", "300", "Channel", "PJSIP/203-")
	wait(t, ctx, a, b)
	ami.event(t, ctx, "ConfbridgeEnd", "Conference", "300")
}
