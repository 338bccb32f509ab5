package cluster_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// call is a command body as the PBX vocabulary writes one (pbx.Call); the
// queue knows it only as a name and JSON.
type call struct {
	Exten  string `json:"exten"`
	Number string `json:"number"`
}

func (call) CommandName() string { return "call" }

// badCommand is an error marked as the sender's fault, as the PBX
// vocabulary's decoding errors are.
type badCommand struct{}

func (badCommand) Error() string    { return "bad command" }
func (badCommand) BadCommand() bool { return true }

func TestNewCommand(t *testing.T) {
	c := cluster.NewCommand("t1", "alice", call{Exten: "201", Number: "202"})
	if c.Tenant != "t1" || c.User != "alice" || c.Name != "call" || string(c.Args) != `{"exten":"201","number":"202"}` || c.ID != "" || c.Reply {
		t.Fatalf("command %+v", c)
	}
}

func TestCommandExpiryAndResult(t *testing.T) {
	now := time.Now()
	c := cluster.NewCommand("t1", "alice", call{Exten: "201", Number: "202"}).WithReply(now.Add(time.Second))
	if c.ID == "" || !c.Reply || c.Expired(now) || !c.Expired(now.Add(2*time.Second)) {
		t.Fatalf("awaited command %+v", c)
	}
	if (cluster.Command{}).Expired(now) {
		t.Fatal("a command without deadline expired")
	}
	for err, want := range map[error]int{
		nil: 200, cluster.ErrCommandInvalid: 400, cluster.ErrCommandForbidden: 403, cluster.ErrCommandNotFound: 404,
		cluster.ErrCommandExpired: 504, badCommand{}: 400, fmt.Errorf("decode: %w", badCommand{}): 400, errors.New("PBX said no"): 500,
		cluster.ErrCommandUnavailable: 503, fmt.Errorf("hangup: %w", cluster.ErrCommandUnavailable): 503,
		fmt.Errorf("call: %w", cluster.ErrCommandBusy): 429,
	} {
		if got := cluster.ResultOf(nil, err); got.Status != want || (err != nil) != (got.Error != "") {
			t.Errorf("ResultOf(%v) = %+v, want status %d", err, got, want)
		}
	}
}
