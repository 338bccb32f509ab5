package sipp

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// needSIPp skips a test when SIPp is not installed.
func needSIPp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip("SIPp is not installed (apt-get install sip-tester)")
	}
}

// TestPhoneToPhone runs a UAC against a UAS directly, without a PBX: the
// scenarios' dialogs are consistent with each other.
func TestPhoneToPhone(t *testing.T) {
	needSIPp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := NewPhone("201", "pw201", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPhone("202", "pw202", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.Receive(ctx, Script{Ring: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	out, err := a.Dial(ctx, b.Addr, "202", Script{Talk: 500 * time.Millisecond, Hold: [2]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}, DTMF: "1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Stop)
	if err := out.Wait(ctx); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := in.Wait(ctx); err != nil {
		t.Fatalf("callee: %v", err)
	}
	t.Logf("caller events %v, callee events %v", out.Events(), in.Events())
	for _, want := range []string{"ringing", "answered", "hold 200", "resume 200", "bye sent"} {
		if !slices.Contains(out.Events(), want) {
			t.Errorf("caller events %v lack %q", out.Events(), want)
		}
	}
	if !slices.Contains(in.Events(), "bye received") {
		t.Errorf("callee events %v lack the BYE", in.Events())
	}
}

// TestPhoneRejectAndCancel: a refusal is the Dial's error unless expected;
// a caller that gives up cancels the ringing callee.
func TestPhoneRejectAndCancel(t *testing.T) {
	needSIPp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := NewPhone("201", "pw201", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPhone("202", "pw202", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.Receive(ctx, Script{Reject: 486})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	out, err := a.Dial(ctx, b.Addr, "202", Script{Expect: 486})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Stop)
	if err := out.Wait(ctx); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := in.Wait(ctx); err != nil {
		t.Fatalf("callee: %v", err)
	}
	in, err = b.Receive(ctx, Script{NoAnswer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	out, err = a.Dial(ctx, b.Addr, "202", Script{Cancel: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Stop)
	if err := out.Wait(ctx); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := in.Wait(ctx); err != nil {
		t.Fatalf("callee: %v", err)
	}
	if !slices.Contains(in.Events(), "cancelled") || in.Answered() {
		t.Errorf("callee events %v: want cancelled", in.Events())
	}
}
