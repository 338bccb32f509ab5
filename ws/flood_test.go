package ws

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/png"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pause stops writing to a socket once its queue is empty: what is
// queued afterwards stays queued, as for a peer that stopped reading
// (without depending on the kernel's socket buffers).
func pause(t *testing.T, c *conn) {
	t.Helper()
	waitFor(t, "the socket to go idle", func() bool {
		c.sock.mu.Lock()
		defer c.sock.mu.Unlock()
		if c.sock.flushing || len(c.sock.q) > 0 {
			return false
		}
		c.sock.flushing = true
		return true
	})
}

// resume lets a paused socket write again.
func resume(c *conn) {
	c.sock.mu.Lock()
	c.sock.flushing = false
	c.sock.mu.Unlock()
	go c.sock.flush()
}

// post sends a REST POST as user (auth is off in abuseEnv) and returns the
// status and the Retry-After header.
func (e *abuseEnv) post(path, user, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.hs.URL+path, strings.NewReader(body))
	req.Host = "t1.example"
	req.Header.Set("Authorization", user+":any")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// bigAvatars returns n valid PNG avatars of about 249 KB that differ from
// each other (a tEXt chunk with the index), as data URLs.
func bigAvatars(t *testing.T, n int) []string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 250, 249))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	body, iend := raw[:len(raw)-12], raw[len(raw)-12:]
	out := make([]string, n)
	for i := range out {
		chunk := append([]byte("tEXt"), "Comment\x00"+strconv.Itoa(i)...)
		var p []byte
		p = binary.BigEndian.AppendUint32(p, uint32(len(chunk)-4))
		p = append(p, chunk...)
		p = binary.BigEndian.AppendUint32(p, crc32.ChecksumIEEE(chunk))
		img := append(append(append([]byte{}, body...), p...), iend...)
		out[i] = "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
	}
	return out
}

// TestAvatarFlood: 40 valid avatars of 249 KB of one user in a burst. Beyond the
// user's avatar rate the sender gets 429 with Retry-After; a receiver that
// stopped reading is never disconnected, whatever the rate, because a
// user's avatar conflates in its queue, and it gets the newest one.
func TestAvatarFlood(t *testing.T) {
	avatars := bigAvatars(t, 40)
	tests := []struct {
		name   string
		limits Limits
		most   int // accepted at most
	}{
		{"per-user rate", Limits{}, DefaultUserAvatarBurst + 1},
		{"conflation at the receiver", Limits{UserAvatar: Rate{PerSecond: 1e6, Burst: 1e6}}, len(avatars)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAbuseEnv(t, Options{SendBuffer: 16, Limits: tc.limits})
			bob := e.login("t1", "bob")
			bc := e.serverConn("t1", "bob")
			pause(t, bc)
			accepted, last := 0, ""
			for _, a := range avatars {
				switch code, retry := e.post("/webrest/user/profile/avatar", "alice", `{"avatar":"`+a+`"}`); code {
				case http.StatusOK:
					accepted++
					last = a
				case http.StatusTooManyRequests:
					if n, err := strconv.Atoi(retry); err != nil || n < 1 {
						t.Fatalf("429 with Retry-After %q", retry)
					}
				default:
					t.Fatalf("avatar: HTTP %d", code)
				}
			}
			if accepted < DefaultUserAvatarBurst || accepted > tc.most {
				t.Fatalf("%d of %d avatars accepted, want %d to %d", accepted, len(avatars), DefaultUserAvatarBurst, tc.most)
			}
			m := e.srv.metrics
			if got := int(testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", "user_avatar_rate"))); got != len(avatars)-accepted {
				t.Errorf("limit_rejects{user_avatar_rate} = %d, want %d", got, len(avatars)-accepted)
			}
			waitFor(t, "every avatar routed", func() bool {
				return int(testutil.ToFloat64(m.EventsDelivered.WithLabelValues("t1", evAvatarUpdate))) == accepted || bc.closed.Load()
			})
			if bc.closed.Load() || testutil.ToFloat64(m.SlowConsumers.WithLabelValues("t1")) != 0 {
				t.Fatal("the paused receiver was disconnected by another user's avatars")
			}
			resume(bc)
			waitFor(t, "the newest avatar", func() bool {
				args := bob.lastArgs(evAvatarUpdate)
				return len(args) == 1 && strings.Contains(string(args[0]), last)
			})
			if n := bob.count(evAvatarUpdate); n != 1 {
				t.Errorf("the paused receiver got %d avatar frames, want only the newest", n)
			}
			alive(t, bob, "bob")
		})
	}
}

// TestPostitFlood: 1,000 post-its of 4 KB from one user in a burst.
// Beyond the user's post-it rate the sender gets 429; a receiver that
// stopped reading is never disconnected: past half its queue the post-its
// are dropped there and counted.
func TestPostitFlood(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		rate   bool // the per-user rate refuses some
	}{
		{"per-user rate", Limits{}, true},
		{"dropped at the busy receiver", Limits{UserPostit: Rate{PerSecond: 1e6, Burst: 1e6}}, false},
	}
	body := `{"recipient":"bob","text":"` + strings.Repeat("p", DefaultPostitBytes) + `"}`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newAbuseEnv(t, Options{SendBuffer: 16, Limits: tc.limits})
			bob := e.login("t1", "bob")
			bc := e.serverConn("t1", "bob")
			pause(t, bc)
			start := time.Now()
			accepted := 0
			for range 1000 {
				switch code, retry := e.post("/webrest/postit/create", "alice", body); {
				case code == http.StatusOK:
					accepted++
				case code == http.StatusTooManyRequests && retry != "":
				default:
					t.Fatalf("post-it: HTTP %d, Retry-After %q", code, retry)
				}
			}
			m := e.srv.metrics
			if most := DefaultUserPostitBurst + int(time.Since(start).Seconds()*DefaultUserPostitRate) + 1; tc.rate && accepted > most {
				t.Fatalf("%d post-its accepted, want at most %d", accepted, most)
			}
			if !tc.rate && accepted != 1000 {
				t.Fatalf("%d post-its accepted, want all", accepted)
			}
			// Two frames per post-it: updateNewPostit and newPostitCounter.
			waitFor(t, "every post-it routed", func() bool {
				routed := testutil.ToFloat64(m.EventsDelivered.WithLabelValues("t1", evNewPostit)) +
					testutil.ToFloat64(m.EventsDelivered.WithLabelValues("t1", evPostitCounter)) +
					testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitPostitReceiver))
				return int(routed) == 2*accepted || bc.closed.Load()
			})
			if bc.closed.Load() || testutil.ToFloat64(m.SlowConsumers.WithLabelValues("t1")) != 0 {
				t.Fatal("the paused receiver was disconnected by another user's post-its")
			}
			const share = 16 / 8 // alice's share of bob's queue
			if busy := testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitPostitReceiver)); busy != float64(2*accepted-share) {
				t.Errorf("limit_rejects{postit_receiver_busy} = %v, want %d (all but the sender's share of the queue)", busy, 2*accepted-share)
			}
			resume(bc)
			waitFor(t, "the queued post-its", func() bool { return bob.count(evNewPostit)+bob.count(evPostitCounter) == share })
			alive(t, bob, "bob")
		})
	}
}

// relayCounter is a client that counts the relays it gets by sender.
type relayCounter struct {
	c  *client.Conn
	mu sync.Mutex
	by map[string]int
}

func (r *relayCounter) from(user string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[user]
}

func (e *abuseEnv) relayCounter(user string) *relayCounter {
	e.t.Helper()
	r := &relayCounter{by: map[string]int{}}
	c, err := client.Dial(context.Background(), client.Options{URL: e.hs.URL, User: user, Token: "any", UAType: "mobile", PingEvery: -1,
		Header: map[string][]string{"Host": {"t1.example"}},
		OnEvent: func(name string, args []json.RawMessage, _ time.Time) {
			var m struct{ CallUser string }
			if name == evMessage && len(args) == 1 && json.Unmarshal(args[0], &m) == nil {
				r.mu.Lock()
				r.by[m.CallUser]++
				r.mu.Unlock()
			}
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	r.c = c
	return r
}

// TestRelayFloodPerUser: 100 sockets of one user, each within its own
// socket's relay burst, get at most the user's relay bucket through
// together; another user's relays to the same receiver are all delivered.
func TestRelayFloodPerUser(t *testing.T) {
	e := newAbuseEnv(t, Options{Limits: Limits{MaxSocketsPerUser: 1000}})
	bob := e.relayCounter("bob")
	carol := e.login("t1", "carol")
	var flood []*recorder
	for range 100 {
		flood = append(flood, e.login("t1", "alice"))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, a := range flood {
		wg.Go(func() {
			for i := range DefaultRelayBurst {
				_ = a.c.Emit("message", map[string]any{"message": "videoCallStart", "destUser": "bob", "n": i})
			}
		})
	}
	for i := range 5 {
		if err := carol.c.Emit("message", map[string]any{"message": "videoCallStart", "destUser": "bob", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	m := e.srv.metrics
	// The flood was refused by alice's user bucket; wait until the
	// counts stop moving (some sockets may still be sending).
	waitFor(t, "the flood refused", func() bool {
		return testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", "user_relay_rate")) > 0
	})
	for prev := -1; prev != bob.from("alice"); time.Sleep(200 * time.Millisecond) {
		prev = bob.from("alice")
	}
	waitFor(t, "the other user's relays", func() bool { return bob.from("carol") == 5 })
	most := DefaultUserRelayBurst + int(time.Since(start).Seconds()*DefaultUserRelayRate) + 1
	if n := bob.from("alice"); n > most {
		t.Errorf("bob got %d relays from alice's 100 sockets, want at most %d (the user's bucket)", n, most)
	}
	if n, busy := bob.from("alice"), testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitRelayReceiver)); n+int(busy) < DefaultUserRelayBurst {
		t.Errorf("bob got %d relays from alice (%v dropped at his queue), want the user's burst %d", n, busy, DefaultUserRelayBurst)
	}
}

// TestSocketCap: past max_sockets_per_user the newest login wins and the
// user's oldest socket gets the Socket.IO disconnect (41); a cap event
// from another node closes the named local socket.
func TestSocketCap(t *testing.T) {
	e := newAbuseEnv(t, Options{Limits: Limits{MaxSocketsPerUser: 3}})
	oldest := e.login("t1", "alice")
	time.Sleep(1100 * time.Millisecond) // sessions are ordered by login second
	var rest []*recorder
	for range 3 {
		rest = append(rest, e.login("t1", "alice"))
	}
	select {
	case <-oldest.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest socket was not closed by the fourth login")
	}
	m := e.srv.metrics
	waitFor(t, "the session removed", func() bool {
		s, _ := e.backend.Sessions.UserSessions(context.Background(), "t1", "alice")
		return len(s) == 3
	})
	if got := testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonSocketCap)); got != 1 {
		t.Errorf("disconnects{socket_cap} = %v, want 1", got)
	}
	for i, r := range rest {
		alive(t, r, "newer socket "+strconv.Itoa(i))
	}

	// From another node: the node holding the socket closes it.
	s, _ := e.backend.Sessions.UserSessions(context.Background(), "t1", "alice")
	ev := cluster.Event{Tenant: "t1", Name: evSocketCap, Target: targetSocketPrefix + s[0].ID, Origin: "n2"}
	if err := e.backend.Bus.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the socket named by another node closed", func() bool {
		return testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonSocketCap)) == 2
	})
}
