package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/auth"
)

// stackJWT is the jwt_secret of the stack tenant t1 in these tests.
const stackJWT = "stack-test-jwt-secret"

// simStack is one node serving tenant t1 in process, against a simulated
// Asterisk over TCP (the call control and queue auto-login tests).
type simStack struct {
	ctx    context.Context
	sim    *sim.Server
	listen string // the node's HTTP address
}

// simStackOptions says what differs between the tests using simStack.
type simStackOptions struct {
	// Extra is top-level YAML added to the node's configuration.
	Extra string
	// Dir holds users.json and objects.json (empty: testdata/stack's users,
	// no objects file); profiles always come from testdata/stack.
	Dir string
	// Before runs on the simulator before the node starts.
	Before func(*sim.Server)
}

// startSimStack starts the simulator (user admin, secret s3cret, no calls
// of its own unless scfg says so) and a node on it; both stop with the test.
func startSimStack(t *testing.T, scfg sim.Config, o simStackOptions) *simStack {
	t.Helper()
	scfg.Username, scfg.Secret = "admin", "s3cret"
	s := sim.New(scfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = s.Serve(ctx, ln) }()
	if o.Before != nil {
		o.Before(s)
	}
	stack, _ := filepath.Abs(filepath.Join("testdata", "stack"))
	users, objects := stack+"/users.json", ""
	if o.Dir != "" {
		users, objects = o.Dir+"/users.json", "\n    objects_file: "+o.Dir+"/objects.json"
	}
	listen, metrics := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
metrics_listen: %q
drain_timeout: 1s
%s
tenants:
  - id: t1
    ami: {address: %q, username: admin, secret: s3cret}
    auth: {jwt_secret: %q}
    users_file: %s
    profiles_file: %s/profiles.json%s
`, listen, metrics, o.Extra, ln.Addr().String(), stackJWT, users, stack, objects)
	stop := serveInProcess(t, ctx, cfg)
	t.Cleanup(func() {
		stop()
		cancel()
		s.Close()
	})
	return &simStack{ctx: ctx, sim: s, listen: listen}
}

// token is a JWT of user for t1.
func (st *simStack) token(user string) string {
	tok, _ := auth.SignJWT(user, "t1", []byte(stackJWT), time.Hour, time.Now())
	return tok
}
