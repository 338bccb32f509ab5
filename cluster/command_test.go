package cluster_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func TestCommandRoundTrip(t *testing.T) {
	conv := cluster.Conv{Exten: "201", ConvID: "PJSIP/201-1>PJSIP/202-2"}
	all := []cluster.CommandArgs{
		cluster.UserLoggedIn{}, cluster.UserLoggedOut{},
		cluster.Presence{Exten: "201", Status: "dnd"}, cluster.QueueLogin{Exten: "201"}, cluster.QueueLogout{Exten: "201", Queue: "401"},
		cluster.Call{Exten: "201", Number: "202"}, cluster.Hangup{Conv: conv},
		cluster.BlindTransfer{Conv: conv, To: "203"}, cluster.AttendedTransfer{Conv: conv, To: "203"},
		cluster.Park{Conv: conv, Applicant: "201"}, cluster.PickupParking{Parking: "71", Dest: "201"},
		cluster.PickupConv{Exten: "202", Dest: "201"}, cluster.StartRecord{Conv: conv}, cluster.StopRecord{Conv: conv},
		cluster.MuteRecord{Conv: conv}, cluster.UnmuteRecord{Conv: conv},
		cluster.Intrude{Conv: conv, Dest: "203"}, cluster.Listen{Conv: conv, Dest: "203"},
	}
	if len(all) != len(cluster.CommandKinds()) {
		t.Fatalf("%d argument types tested, %d kinds exist", len(all), len(cluster.CommandKinds()))
	}
	seen := map[cluster.CommandKind]bool{}
	for _, a := range all {
		c := cluster.NewCommand("t1", "alice", a)
		if c.Name != a.Kind() || !c.Name.Known() || seen[c.Name] {
			t.Fatalf("%T: name %q", a, c.Name)
		}
		seen[c.Name] = true
		got, err := c.Decode()
		if err != nil || got != a {
			t.Errorf("%s: decoded %+v, %v; want %+v", c.Name, got, err, a)
		}
	}
}

func TestCommandDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		cmd  cluster.Command
		want error
	}{
		{cluster.Command{Name: "originate", Args: []byte(`{"exten":"201"}`)}, cluster.ErrUnknownCommand},
		{cluster.Command{Name: cluster.CmdCall, Args: []byte(`{"exten":"201","number":"2","channel":"x"}`)}, cluster.ErrBadCommandArgs},
		{cluster.Command{Name: cluster.CmdCall, Args: []byte(`[1]`)}, cluster.ErrBadCommandArgs},
		{cluster.Command{Name: cluster.CmdCall, Args: []byte(`{"exten":"201"} {}`)}, cluster.ErrBadCommandArgs},
	} {
		if _, err := c.cmd.Decode(); !errors.Is(err, c.want) {
			t.Errorf("%s %s: %v, want %v", c.cmd.Name, c.cmd.Args, err, c.want)
		}
	}
}

func TestCommandExpiryAndResult(t *testing.T) {
	now := time.Now()
	c := cluster.NewCommand("t1", "alice", cluster.Call{Exten: "201", Number: "202"}).WithReply(now.Add(time.Second))
	if c.ID == "" || !c.Reply || c.Expired(now) || !c.Expired(now.Add(2*time.Second)) {
		t.Fatalf("awaited command %+v", c)
	}
	if (cluster.Command{}).Expired(now) {
		t.Fatal("a command without deadline expired")
	}
	for err, want := range map[error]int{
		nil: 200, cluster.ErrCommandInvalid: 400, cluster.ErrCommandForbidden: 403, cluster.ErrCommandNotFound: 404,
		cluster.ErrCommandExpired: 504, cluster.ErrUnknownCommand: 400, errors.New("PBX said no"): 500,
		cluster.ErrCommandUnavailable: 503, fmt.Errorf("hangup: %w", cluster.ErrCommandUnavailable): 503,
	} {
		if got := cluster.ResultOf(nil, err); got.Status != want || (err != nil) != (got.Error != "") {
			t.Errorf("ResultOf(%v) = %+v, want status %d", err, got, want)
		}
	}
}
