package ws_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rawLogin logs a socket in by hand and returns the websocket without
// reading from it any more.
func rawLogin(t *testing.T, e *env, user string) *websocket.Conn {
	t.Helper()
	token := "raw-" + user
	if err := e.backend.Tokens.Put(context.Background(), "t1", user, auth.HashToken(token), time.Hour); err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512}
	c, _, err := d.Dial(strings.Replace(e.hs.URL, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	read := func(prefix string) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", prefix, err)
			}
			if strings.HasPrefix(string(b), prefix) {
				return
			}
		}
	}
	read("0{")
	_ = c.WriteMessage(websocket.TextMessage, []byte("40"))
	read("40")
	_ = c.WriteMessage(websocket.TextMessage, []byte(`42["login",{"accessKeyId":"`+user+`","token":"`+token+`","uaType":"desktop"}]`))
	read(`42["authe_ok"`)
	return c
}

// TestSlowConsumerIsDisconnectedAndCounted: keyless (transitional) frames
// are never dropped or merged, so a socket that stops reading while they
// pile up is disconnected once its queue is full, and counted; a reading
// client of the same tenant is not affected.
func TestSlowConsumerIsDisconnectedAndCounted(t *testing.T) {
	e := newEnv(t)
	_ = rawLogin(t, e, "dave") // never reads again
	good := e.login("t1", "alice", "desktop")
	e.settle("t1", good)
	reset(good)

	payload := mustJSON(t, []any{map[string]string{"message": "x", "blob": strings.Repeat("x", 16<<10)}})
	sent := 0
	slow := e.srv.Metrics().SlowConsumers.WithLabelValues("t1")
	for i := 0; i < 4000 && testutil.ToFloat64(slow) == 0; i++ {
		for _, to := range []string{"dave", "alice"} {
			if err := e.backend.Bus.Publish(context.Background(), cluster.Event{Tenant: "t1", Name: "message", Target: to, Data: payload}); err != nil {
				t.Fatal(err)
			}
		}
		sent++
		if i%20 == 19 {
			// Let the good client drain, as a real one would.
			e.settle("t1", good)
		}
	}
	select {
	case <-good.c.Done():
		t.Fatalf("the reading client was disconnected: %v", good.c.Err())
	default:
	}
	if testutil.ToFloat64(slow) != 1 {
		t.Fatalf("slow consumer not disconnected after %d messages", sent)
	}
	e.settle("t1", good)
	if got := len(good.events("message")); got != sent {
		t.Fatalf("good client got %d of %d messages: transitional frames must never be merged", got, sent)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().Disconnects.WithLabelValues("t1", "slow_consumer")); got != 1 {
		t.Fatalf("disconnects{slow_consumer} = %v", got)
	}
}

// TestStateConflation: state frames of one object replace each other while
// unsent, so a socket that does not read is not disconnected by state
// traffic, every reading client ends with the latest state, and the
// replaced frames are counted.
func TestStateConflation(t *testing.T) {
	e := newEnv(t)
	_ = rawLogin(t, e, "dave") // never reads again
	good := e.login("t1", "alice", "desktop")
	e.settle("t1", good)
	reset(good)

	// 400 frames of 48 KiB are more than the loopback socket buffers hold,
	// so the socket that does not read has a queue to conflate into.
	big := testExtension("202", "bob")
	big.SIPUserAgent = strings.Repeat("x", 48<<10)
	const n = 400
	for i := 0; i < n; i++ {
		big.Port = strconv.Itoa(i)
		e.publish("t1", cluster.Event{Name: pbx.EvExtenChanged, Key: "exten/202", Data: mustJSON(t, big)})
	}
	e.settle("t1", good)
	if got := testutil.ToFloat64(e.srv.Metrics().SlowConsumers.WithLabelValues("t1")); got != 0 {
		t.Fatalf("%v slow-consumer disconnects for state traffic", got)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().Conflated.WithLabelValues("t1")); got == 0 {
		t.Fatal("no frame was conflated although one socket never reads")
	}
	ups := good.events("extenUpdate")
	if len(ups) == 0 || len(ups) > n {
		t.Fatalf("good client got %d extenUpdate", len(ups))
	}
	var last struct{ Port string }
	if err := json.Unmarshal(ups[len(ups)-1].args[0], &last); err != nil || last.Port != strconv.Itoa(n-1) {
		t.Fatalf("good client's last state has port %q, want %d (%v)", last.Port, n-1, err)
	}
}
