package asterisk_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/asterisk"
	"github.com/ctiws/ctiws/internal/sipp"
)

// The actions ctiws sends (ami/control.go, ami/commands.go) work on the
// lab's dialplan.

// TestQueueLoginAndPickup: QueueAdd as ctiws sends it makes bob a member
// of 401; a queue call rings carol (static) and bob through their
// Local/<ext>@from-queue/n members; dave picks it up with **202.
func TestQueueLoginAndPickup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204", "201")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	if r := ami.action(t, ctx, "QueueAdd", "Queue", "401", "Interface", "Local/202@from-queue/n",
		"MemberName", "Bruno Bianchi", "StateInterface", "PJSIP/202", "Paused", "false"); r["Response"] != "Success" {
		t.Fatalf("QueueAdd: %v", r)
	}
	ami.event(t, ctx, "QueueMemberAdded", "Queue", "401", "Interface", "Local/202@from-queue/n")
	bob := l.receive(t, ctx, "202", sipp.Script{NoAnswer: true})
	carol := l.receive(t, ctx, "203", sipp.Script{NoAnswer: true})
	caller := l.dial(t, ctx, "201", asterisk.QueueSupport, sipp.Script{})
	ami.event(t, ctx, "QueueCallerJoin", "Queue", "401")
	ami.event(t, ctx, "DialBegin", "DestChannel", "PJSIP/202-")
	picker := l.dial(t, ctx, "204", asterisk.PickupPrefix+"202", sipp.Script{Talk: time.Second})
	wait(t, ctx, picker, caller, bob, carol)
	ami.event(t, ctx, "Pickup", "Channel", "PJSIP/204-")
	ami.event(t, ctx, "AgentConnect", "Queue", "401")
	if !picker.Answered() || bob.Answered() || carol.Answered() {
		t.Errorf("picker %v, bob %v, carol %v", picker.Events(), bob.Events(), carol.Events())
	}
}

// TestOriginate: ctiws's Call command.
func TestOriginate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	bob := l.receive(t, ctx, "202", sipp.Script{Ring: 300 * time.Millisecond})
	carol := l.receive(t, ctx, "203", sipp.Script{Ring: 300 * time.Millisecond, Talk: time.Second})
	if r := ami.action(t, ctx, "Originate", "Channel", "PJSIP/202", "Context", "from-internal", "Exten", "203",
		"Priority", "1", "CallerID", `"Bruno Bianchi" <202>`, "Timeout", "15000", "Async", "true"); r["Response"] != "Success" {
		t.Fatalf("Originate: %v", r)
	}
	ami.event(t, ctx, "OriginateResponse", "Response", "Success", "Channel", "PJSIP/202-")
	wait(t, ctx, carol, bob)
}

// TestRecordAndSpy: ctiws's recording (Setvar + MixMonitor) and
// listening (Originate ChanSpy).
func TestRecordAndSpy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	carol := l.receive(t, ctx, "203", sipp.Script{})
	bob := l.dial(t, ctx, "202", "203", sipp.Script{Talk: 4 * time.Second})
	src := ami.event(t, ctx, "BridgeEnter", "Channel", "PJSIP/202-")["Channel"]
	for _, v := range [][2]string{
		{"MASTER_CHANNEL(ONETOUCH_REC)", "RECORDING"},
		{"MASTER_CHANNEL(CDR(recordingfile))", "exten-202-203.wav"},
	} {
		// Without func_cdr the CDR() write logs an error, yet the
		// action succeeds (MASTER_CHANNEL's write).
		if r := ami.action(t, ctx, "Setvar", "Channel", src, "Variable", v[0], "Value", v[1]); r["Response"] != "Success" {
			t.Errorf("Setvar %s: %v", v[0], r)
		}
	}
	if r := ami.action(t, ctx, "MixMonitor", "Channel", src, "File", "2026/01/02/exten-202-203.wav", "Options", "a"); r["Response"] != "Success" {
		t.Fatalf("MixMonitor: %v", r)
	}
	ami.event(t, ctx, "MixMonitorStart", "Channel", src)
	spy := l.receive(t, ctx, "204", sipp.Script{})
	if r := ami.action(t, ctx, "Originate", "Channel", "PJSIP/204", "Application", "ChanSpy",
		"Data", src+",qS", "CallerID", "<unknown>", "Async", "true"); r["Response"] != "Success" {
		t.Fatalf("Originate ChanSpy: %v", r)
	}
	ami.event(t, ctx, "ChanSpyStart", "SpyeeChannel", src)
	// MixMonitorStop comes from StopMixMonitor only (not at hangup).
	if r := ami.action(t, ctx, "StopMixMonitor", "Channel", src); r["Response"] != "Success" {
		t.Fatalf("StopMixMonitor: %v", r)
	}
	ami.event(t, ctx, "MixMonitorStop", "Channel", src)
	wait(t, ctx, bob, carol, spy)
	if _, err := os.Stat(filepath.Join(l.pbx.MonitorDir(), "2026/01/02/exten-202-203.wav")); err != nil {
		t.Errorf("recording: %v", err)
	}
}

// TestForwards: CF, CFB and CFU by feature code.
func TestForwards(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204")
	// CF: 202 forwards everything to 204.
	wait(t, ctx, l.dial(t, ctx, "202", asterisk.CFOn+"204", sipp.Script{}))
	dave := l.receive(t, ctx, "204", sipp.Script{Talk: 500 * time.Millisecond})
	wait(t, ctx, l.dial(t, ctx, "203", "202", sipp.Script{}), dave)
	wait(t, ctx, l.dial(t, ctx, "202", asterisk.CFOff, sipp.Script{}))
	// CFB: 202 busy goes to 204.
	wait(t, ctx, l.dial(t, ctx, "202", asterisk.CFBOn+"204", sipp.Script{}))
	bob := l.receive(t, ctx, "202", sipp.Script{Reject: 486})
	dave = l.receive(t, ctx, "204", sipp.Script{Talk: 500 * time.Millisecond})
	wait(t, ctx, l.dial(t, ctx, "203", "202", sipp.Script{}), dave, bob)
	// CFU: 205 (never registered) goes to 204.
	erin, _ := sipp.NewPhone("205", asterisk.Password("205"), "127.0.0.1")
	c, err := erin.Dial(ctx, l.pbx.SIPAddr(), asterisk.CFUOn+"204", sipp.Script{})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, ctx, c)
	dave = l.receive(t, ctx, "204", sipp.Script{Talk: 500 * time.Millisecond})
	wait(t, ctx, l.dial(t, ctx, "203", "205", sipp.Script{}), dave)
	out := l.cli(t, ctx, "database show")
	for _, want := range []string{"/CFB/202", "/CFU/205"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
}

// TestVoicemailMWI: a message left in 204's box fires MessageWaiting.
func TestVoicemailMWI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	wait(t, ctx, l.dial(t, ctx, "202", "*204", sipp.Script{Talk: 6 * time.Second}))
	m := ami.event(t, ctx, "MessageWaiting", "Mailbox", "204@default")
	if m["New"] != "1" {
		t.Errorf("MessageWaiting New=%q, want 1", m["New"])
	}
}
