package pbx

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	conv := Conv{Exten: "201", ConvID: "PJSIP/201-1>PJSIP/202-2"}
	all := []CommandArgs{
		UserLoggedIn{}, UserLoggedOut{},
		Presence{Exten: "201", Status: "dnd"}, QueueLogin{Exten: "201"}, QueueLogout{Exten: "201", Queue: "401"},
		Call{Exten: "201", Number: "202"}, Hangup{Conv: conv},
		BlindTransfer{Conv: conv, To: "203"}, AttendedTransfer{Conv: conv, To: "203"},
		Park{Conv: conv, Applicant: "201"}, PickupParking{Parking: "71", Dest: "201"},
		PickupConv{Exten: "202", Dest: "201"}, StartRecord{Conv: conv}, StopRecord{Conv: conv},
		MuteRecord{Conv: conv}, UnmuteRecord{Conv: conv},
		Intrude{Conv: conv, Dest: "203"}, Listen{Conv: conv, Dest: "203"},
	}
	if len(all) != len(CommandNames()) {
		t.Fatalf("%d argument types tested, %d names exist", len(all), len(CommandNames()))
	}
	seen := map[string]bool{}
	for _, a := range all {
		name := a.CommandName()
		if !KnownCommand(name) || seen[name] {
			t.Fatalf("%T: name %q", a, name)
		}
		seen[name] = true
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(name, raw)
		if err != nil || got != a {
			t.Errorf("%s: decoded %+v, %v; want %+v", name, got, err, a)
		}
	}
}

func TestCommandDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		args string
		want error
	}{
		{"originate", `{"exten":"201"}`, ErrUnknownCommand},
		{CmdCall, `{"exten":"201","number":"2","channel":"x"}`, ErrBadCommandArgs},
		{CmdCall, `[1]`, ErrBadCommandArgs},
		{CmdCall, `{"exten":"201"} {}`, ErrBadCommandArgs},
	} {
		_, err := DecodeCommand(c.name, []byte(c.args))
		if !errors.Is(err, c.want) {
			t.Errorf("%s %s: %v, want %v", c.name, c.args, err, c.want)
		}
		// The owner answers a command it cannot read with 400
		// (cluster.ResultOf), without that package knowing this one.
		var b interface{ BadCommand() bool }
		if !errors.As(err, &b) || !b.BadCommand() {
			t.Errorf("%s %s: %v is not marked a bad command", c.name, c.args, err)
		}
	}
}
