package ws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/pbx"
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

func TestSlowConsumerIsDisconnectedAndCounted(t *testing.T) {
	e := newEnv(t)
	_ = rawLogin(t, e, "dave") // never reads again
	good := e.login("t1", "alice", "desktop")
	e.settle("t1", good)
	reset(good)

	big := testExtension("202", "bob")
	big.SIPUserAgent = strings.Repeat("x", 16<<10)
	sent := 0
	slow := e.srv.Metrics().SlowConsumers.WithLabelValues("t1")
	for i := 0; i < 4000 && testutil.ToFloat64(slow) == 0; i++ {
		big.Port = string(rune('a' + i%26))
		e.publish("t1", cluster.Event{Name: cluster.EvExtenChanged, Key: "exten/202", Data: mustJSON(t, big)})
		sent++
		if i%20 == 19 { // 40 frames (extenUpdate + userMainPresenceUpdate) < SendBuffer 64
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
		t.Fatalf("slow consumer not disconnected after %d events", sent)
	}
	e.settle("t1", good)
	if got := len(good.events("extenUpdate")); got != sent {
		t.Fatalf("good client got %d of %d events", got, sent)
	}
	if got := testutil.ToFloat64(e.srv.Metrics().Disconnects.WithLabelValues("t1", "slow_consumer")); got != 1 {
		t.Fatalf("disconnects{slow_consumer} = %v", got)
	}
	var _ = pbx.Extension{}
}
