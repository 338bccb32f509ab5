package asterisk_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/asterisk"
	"github.com/ctiws/ctiws/internal/sipp"
)

// TestAttendedTransfer: ctiws's Atxfer (Exten "<to>#") consults 204; the
// transferer hanging up completes the transfer.
func TestAttendedTransfer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	carol := l.receive(t, ctx, "203", sipp.Script{})
	bob := l.dial(t, ctx, "202", "203", sipp.Script{Talk: 4 * time.Second})
	own := ami.event(t, ctx, "BridgeEnter", "Channel", "PJSIP/202-")["Channel"]
	dave := l.receive(t, ctx, "204", sipp.Script{Ring: 300 * time.Millisecond, Talk: 4 * time.Second})
	if r := ami.action(t, ctx, "Atxfer", "Channel", own, "Context", "from-internal", "Exten", "204#"); r["Response"] != "Success" {
		t.Fatalf("Atxfer: %v", r)
	}
	ami.event(t, ctx, "DialBegin", "DestChannel", "PJSIP/204-")
	wait(t, ctx, bob)
	ami.event(t, ctx, "AttendedTransfer", "Result", "Success")
	wait(t, ctx, dave, carol)
}

// TestHoldAndCallWaiting: a phone's hold (re-INVITE sendonly) raises
// Hold/Unhold; a phone handling two calls gets the second while talking.
func TestHoldAndCallWaiting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	bob := l.receive(t, ctx, "202", sipp.Script{Calls: 2, Ring: 300 * time.Millisecond, Talk: 3 * time.Second})
	carol := l.dial(t, ctx, "203", "202", sipp.Script{Hold: [2]time.Duration{500 * time.Millisecond, 500 * time.Millisecond}})
	ami.event(t, ctx, "Hold", "Channel", "PJSIP/203-")
	ami.event(t, ctx, "Unhold", "Channel", "PJSIP/203-")
	dave := l.dial(t, ctx, "204", "202", sipp.Script{})
	wait(t, ctx, carol, dave, bob)
	n := 0
	for _, e := range bob.Events() {
		if e == "answered" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("bob answered %d calls: %v", n, bob.Events())
	}
}

// TestRegistrationEvents: what AMI says of a contact registering,
// registering again and unregistering.
func TestRegistrationEvents(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{})
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	p, err := sipp.NewPhone("202", asterisk.Password("202"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, exp := range []int{300, 300, 0} {
		if err := p.Register(ctx, l.pbx.SIPAddr(), exp); err != nil {
			t.Fatal(err)
		}
	}
	ami.event(t, ctx, "ContactStatus", "AOR", "202", "ContactStatus", "Removed")
	for _, m := range ami.all("ContactStatus") {
		t.Logf("ContactStatus %s %s", m["ContactStatus"], m["URI"])
	}
}

// TestParkActionAndRedirect: ctiws's Park (Channel = the other party,
// TimeoutChannel = the parker) and its pickup of a parked call (Redirect
// to the picker's extension).
func TestParkActionAndRedirect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{ParkingTimeout: 20 * time.Second}, "202", "203", "204")
	ami := watchAMI(t, ctx, l.pbx.AMIAddr(), l.pbx.AMIUser(), l.pbx.AMISecret())
	carol := l.receive(t, ctx, "203", sipp.Script{})
	bob := l.dial(t, ctx, "202", "203", sipp.Script{})
	own := ami.event(t, ctx, "BridgeEnter", "Channel", "PJSIP/202-")["Channel"]
	peer := ami.event(t, ctx, "BridgeEnter", "Channel", "PJSIP/203-")["Channel"]
	if r := ami.action(t, ctx, "Park", "Channel", peer, "TimeoutChannel", own); r["Response"] != "Success" {
		t.Fatalf("Park: %v", r)
	}
	ami.event(t, ctx, "ParkedCall", "ParkeeChannel", peer, "ParkingSpace", "71")
	wait(t, ctx, bob) // the parker is hung up
	dave := l.receive(t, ctx, "204", sipp.Script{Ring: 300 * time.Millisecond, Talk: time.Second})
	if r := ami.action(t, ctx, "Redirect", "Channel", peer, "Context", "from-internal", "Exten", "204", "Priority", "1"); r["Response"] != "Success" {
		t.Fatalf("Redirect: %v", r)
	}
	// A Redirect out of the lot is a give-up for res_parking, not an
	// UnParkedCall.
	ami.event(t, ctx, "ParkedCallGiveUp", "ParkeeChannel", peer)
	wait(t, ctx, dave, carol)
}

// TestInboundRoutes: the DIDs of the queue and of the ring group.
func TestInboundRoutes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := startLab(t, ctx, asterisk.Options{}, "202", "203", "204")
	peer := &sipp.Phone{Ext: "0612345678", Addr: l.pbx.TrunkAddr()}
	// Ring group 600: everybody rings, bob answers.
	bob := l.receive(t, ctx, "202", sipp.Script{Ring: 500 * time.Millisecond})
	carol := l.receive(t, ctx, "203", sipp.Script{NoAnswer: true})
	dave := l.receive(t, ctx, "204", sipp.Script{NoAnswer: true})
	c, err := peer.Dial(ctx, l.pbx.SIPAddr(), asterisk.DIDRingGroup, sipp.Script{Talk: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	wait(t, ctx, c, bob, carol, dave)
	if !bob.Answered() || !slices.Contains(carol.Events(), "cancelled") || !slices.Contains(dave.Events(), "cancelled") {
		t.Errorf("ring group: bob %v, carol %v, dave %v", bob.Events(), carol.Events(), dave.Events())
	}
	// Queue 401: its static member carol answers.
	carol = l.receive(t, ctx, "203", sipp.Script{Ring: 500 * time.Millisecond})
	c, err = peer.Dial(ctx, l.pbx.SIPAddr(), asterisk.DIDQueue, sipp.Script{Talk: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	wait(t, ctx, c, carol)
}
