package main

// Queue auto-login against a PBX that is not up yet: a queue operator's
// socket logs in while the owner cannot reach Asterisk (it refuses every
// connection); once it can, the operator is added to the queue, once.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/client"
)

func TestQueueAutoLoginWhenThePBXComesUpLater(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.CallsPerSecond = 0
	dir := t.TempDir()
	// carol (203, a queue agent) is a dynamic member of 401 with queue
	// auto-login.
	files := map[string]string{
		"users.json": `{"carol": {"name": "Carol White", "endpoints": {"mainextension": {"203": {}}, "extension": {"203": {"type": "physical"}}},
  "profile_id": "2", "settings": {"queue_auto_login": true}}}`,
		"objects.json": `{"queues": {"401": {"name": "Support", "dynmembers": ["203", "204"]}}}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lab := startSimStack(t, scfg, simStackOptions{Dir: dir, Before: func(s *sim.Server) {
		s.Restart(time.Hour) // Asterisk is not up: connections are closed at once
	}})
	ctx, listen, s := lab.ctx, lab.listen, lab.sim
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	queueAdds := func() (n int, logins int) {
		msgs, _, _ := s.ReceivedActions(0)
		for _, m := range msgs {
			switch {
			case strings.EqualFold(m.Get("Action"), "Login"):
				logins++
			case strings.EqualFold(m.Get("Action"), "QueueAdd") && m.Get("Queue") == "401" && m.Get("Interface") == "Local/203@from-queue/n":
				n++
			}
		}
		return n, logins
	}

	// carol's socket logs in while the PBX is down.
	token := lab.token("carol")
	var cc *client.Conn
	var err error
	waitFor("carol's socket", func() bool {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		cc, err = client.Dial(dctx, client.Options{URL: "http://" + listen, User: "carol", Token: token, PingEvery: -1})
		return err == nil
	})
	defer cc.Close()
	time.Sleep(300 * time.Millisecond) // the login hook reaches the owner
	if _, logins := queueAdds(); logins != 0 {
		t.Fatalf("the PBX got %d logins while it was down", logins)
	}

	// Asterisk comes up: the owner logs in (at its next retry), takes its
	// snapshot, and carries out carol's queue auto-login.
	s.Restart(0)
	waitFor("carol's QueueAdd", func() bool { n, _ := queueAdds(); return n > 0 })
	waitFor("carol logged in to queue 401", func() bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+listen+"/webrest/astproxy/queues", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var queues map[string]struct {
			Members map[string]struct {
				LoggedIn bool `json:"loggedIn"`
			} `json:"members"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&queues) != nil {
			return false
		}
		return queues["401"].Members["203"].LoggedIn
	})
	time.Sleep(300 * time.Millisecond)
	if n, _ := queueAdds(); n != 1 {
		t.Fatalf("carol was added to queue 401 %d times, want once", n)
	}
}
