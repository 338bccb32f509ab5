package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cmd/ctiws/internal/loadclient"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/gorilla/websocket"
)

// Fleet is the bench's client load: one logged-in Socket.IO connection
// per user, spread round-robin over the node URLs. Each client parses only
// the bench marker of extenUpdate frames. The connections are read by a
// loadclient.Poller (a few epoll loops), or, with the goroutines load
// client, each by its own ws/client goroutine.
type Fleet struct {
	log     *slog.Logger
	clients []*benchClient
	poller  *loadclient.Poller // nil: one ws/client goroutine per connection
	hist    atomic.Pointer[Histogram]
	// flowAfter, when non-zero, is a write time (unix nanos): the receive
	// time of the first marker written after it is stored in flowAt.
	flowAfter atomic.Int64
	flowAt    atomic.Int64
}

type benchClient struct {
	f     *Fleet
	user  string
	token string
	node  atomic.Int32 // index into the URL list
	conn  atomic.Pointer[loadConn]
	track seqTracker
}

// loadConn is one client connection: a *loadclient.Conn or a *client.Conn.
type loadConn interface {
	Done() <-chan struct{}
	Err() error
	Close() error
	MissedPings() int64
}

// Load clients (Options.LoadClient).
const (
	// LoadEpoll reads every connection from a few epoll loops (the default).
	LoadEpoll = "epoll"
	// LoadGoroutines reads each connection with its own ws/client goroutine,
	// the way the bench did before the epoll load client.
	LoadGoroutines = "goroutines"
)

// checkLoadClient returns the load client named (LoadEpoll when empty), or
// an error for an unknown name.
func checkLoadClient(name string) (string, error) {
	switch name {
	case "":
		return LoadEpoll, nil
	case LoadEpoll, LoadGoroutines:
		return name, nil
	}
	return "", fmt.Errorf("unknown load client %q (want %s or %s)", name, LoadEpoll, LoadGoroutines)
}

// NewFleet prepares n clients (users 0..n-1) with JWTs signed with secret,
// read by the given load client (LoadEpoll, the default, or LoadGoroutines).
func NewFleet(n int, secret []byte, loadClient string, log *slog.Logger) (*Fleet, error) {
	loadClient, err := checkLoadClient(loadClient)
	if err != nil {
		return nil, err
	}
	f := &Fleet{log: log, clients: make([]*benchClient, n)}
	if loadClient == LoadEpoll {
		if f.poller, err = loadclient.NewPoller(0, pingEvery); err != nil {
			return nil, fmt.Errorf("start the epoll load client (-load-client %s works everywhere): %w", LoadGoroutines, err)
		}
	}
	f.hist.Store(&Histogram{})
	now := time.Now()
	for i := range n {
		tok, err := auth.SignJWT(UserName(i), TenantID, secret, 24*time.Hour, now)
		if err != nil {
			return nil, fmt.Errorf("sign JWT for %s: %w", UserName(i), err)
		}
		f.clients[i] = &benchClient{f: f, user: UserName(i), token: tok}
	}
	return f, nil
}

// Len is the number of clients.
func (f *Fleet) Len() int { return len(f.clients) }

// pingEvery is the app-level ping period of every client (phone-island's).
const pingEvery = 5 * time.Second

// onRaw is every client's OnRaw: it records latency and seq of markers.
func (c *benchClient) onRaw(frame []byte, at time.Time) bool {
	seq, nanos, ok := ParseMarker(frame)
	if c.track.frame(seq, ok) {
		c.f.hist.Load().Record(at.Sub(time.Unix(0, nanos)))
		if after := c.f.flowAfter.Load(); after != 0 && nanos > after && c.f.flowAt.Load() == 0 {
			c.f.flowAt.CompareAndSwap(0, at.UnixNano())
		}
	}
	return true // never decode: the bench needs nothing else
}

// DialResult summarises a Connect call.
type DialResult struct {
	// OK and Failed count clients; Errors holds up to 5 distinct messages.
	OK, Failed int
	Errors     []string
	// Elapsed is the time until the last client finished.
	Elapsed time.Duration
	// Latency is the per-client connect+login time.
	Latency *Histogram
}

// Connect dials and logs in every client whose index is in idx (nil: all)
// to urls[i%len(urls)], at most concurrency at once (<=0: all at once).
func (f *Fleet) Connect(ctx context.Context, urls []string, idx []int, concurrency int, timeout time.Duration) DialResult {
	if idx == nil {
		idx = make([]int, len(f.clients))
		for i := range idx {
			idx[i] = i
		}
	}
	if concurrency <= 0 {
		concurrency = len(idx)
	}
	res := DialResult{Latency: &Histogram{}}
	var mu sync.Mutex
	errs := map[string]int{}
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	start := time.Now()
	for _, i := range idx {
		c := f.clients[i]
		c.node.Store(int32(i % len(urls)))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			res.Failed++
			errs[ctx.Err().Error()]++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			err := c.dial(ctx, urls[int(c.node.Load())], timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				errs[err.Error()]++
				return
			}
			res.Latency.Record(time.Since(t0))
			res.OK++
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Errors = topErrors(errs, 5)
	return res
}

func (c *benchClient) dial(ctx context.Context, url string, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn loadConn
	var err error
	if c.f.poller != nil {
		conn, err = loadclient.Dial(dctx, c.f.poller, loadclient.Options{
			URL: url, User: c.user, Token: c.token,
			OnRaw: func(frame []byte, at time.Time) { c.onRaw(frame, at) },
		})
	} else {
		conn, err = client.Dial(dctx, client.Options{
			URL: url, User: c.user, Token: c.token, OnRaw: c.onRaw, PingEvery: pingEvery,
			Dialer: &websocket.Dialer{HandshakeTimeout: timeout, ReadBufferSize: 1024, WriteBufferSize: 1024},
		})
	}
	if err != nil {
		return err // no user name: equal causes group together
	}
	c.conn.Store(&conn)
	return nil
}

func topErrors(errs map[string]int, n int) []string {
	type kv struct {
		msg string
		n   int
	}
	var all []kv
	for m, k := range errs {
		all = append(all, kv{m, k})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var out []string
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, fmt.Sprintf("%d× %s", all[i].n, all[i].msg))
	}
	return out
}

// Reset starts a measurement window: seqs at or below base are ignored and
// the latency histogram is emptied.
func (f *Fleet) Reset(base uint64) *Histogram {
	h := &Histogram{}
	for _, c := range f.clients {
		c.track.reset(base)
	}
	f.hist.Store(h)
	return h
}

// Connected returns the indexes of clients whose connection is up.
func (f *Fleet) Connected() []int {
	var out []int
	for i, c := range f.clients {
		if conn := c.conn.Load(); conn != nil && (*conn).Err() == nil && !isDone(*conn) {
			out = append(out, i)
		}
	}
	return out
}

func isDone(c loadConn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// Totals sums the window counters over clients in idx (nil: all).
type Totals struct {
	Distinct, Dupes, Frames, Markers uint64
	// MinDistinct is the smallest per-client distinct count.
	MinDistinct uint64
	// Short counts clients with fewer distinct seqs than expected.
	Short int
}

// Totals sums the trackers; expected is the per-client target for Short.
func (f *Fleet) Totals(idx []int, expected uint64) Totals {
	t := Totals{MinDistinct: ^uint64(0)}
	each := func(c *benchClient) {
		d, du, fr, m := c.track.counts()
		t.Distinct += d
		t.Dupes += du
		t.Frames += fr
		t.Markers += m
		t.MinDistinct = min(t.MinDistinct, d)
		if d < expected {
			t.Short++
		}
	}
	if idx == nil {
		for _, c := range f.clients {
			each(c)
		}
	} else {
		for _, i := range idx {
			each(f.clients[i])
		}
	}
	if t.MinDistinct == ^uint64(0) {
		t.MinDistinct = 0
	}
	return t
}

// WaitFinal polls until every client in idx holds the final bench version
// of every extension (see MissingFinal) or timeout passes; it returns the
// time it waited.
func (f *Fleet) WaitFinal(ctx context.Context, idx []int, written uint64, exts int, timeout time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout {
		if missing, _, _ := f.MissingFinal(idx, written, exts); missing == 0 {
			break
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			break
		}
	}
	return time.Since(start)
}

// MissingFinal counts, over the clients in idx, the extensions whose final
// bench version (see FinalSeq) the client did not receive.
// sample names up to 5 missing versions ("user: extension seq N").
func (f *Fleet) MissingFinal(idx []int, written uint64, exts int) (missing int, clientsShort int, sample []string) {
	finals := make([]uint64, exts)
	for k := range finals {
		finals[k] = FinalSeq(written, exts, k)
	}
	for _, i := range idx {
		c := f.clients[i]
		short := c.track.missing(finals, func(k int) {
			missing++
			if len(sample) < 5 {
				sample = append(sample, fmt.Sprintf("%s: extension %s seq %d", c.user, Extension(k), finals[k]))
			}
		})
		if short {
			clientsShort++
		}
	}
	return missing, clientsShort, sample
}

// Dropped returns the indexes of clients whose connection has ended.
func (f *Fleet) Dropped() []int {
	var out []int
	for i, c := range f.clients {
		if conn := c.conn.Load(); conn == nil || isDone(*conn) {
			out = append(out, i)
		}
	}
	return out
}

// Close closes every connection.
func (f *Fleet) Close() {
	var wg sync.WaitGroup
	for _, c := range f.clients {
		if conn := c.conn.Swap(nil); conn != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = (*conn).Close() }()
		}
	}
	wg.Wait()
	if f.poller != nil {
		f.poller.Close()
	}
}

// MissedPings sums app-level pings without an ack.
func (f *Fleet) MissedPings() int64 {
	var n int64
	for _, c := range f.clients {
		if conn := c.conn.Load(); conn != nil {
			n += (*conn).MissedPings()
		}
	}
	return n
}
