package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
)

// soakPrivacyMask is the tenant's privacy_numbers (ConfigYAML).
const soakPrivacyMask = "xxx"

// soakClient is one socket of the soak: it logs in (again after every
// disconnect), keeps its view of the extensions (the REST snapshot at
// login, then every extenUpdate) and checks, for a privacy user, that no
// extenUpdate of another user's extension carries a clear number.
type soakClient struct {
	user    int
	privacy bool
	node    int
	url     string // the node, or the client proxy in front of it
	token   string
	// hist is where delivery latencies go: the lab swaps it between the
	// fault windows and the quiet ones.
	hist *atomic.Pointer[Histogram]
	// newest is the write time of the newest bench change received (the
	// read goroutine of the current connection; an old one may linger).
	newest atomic.Int64

	mu    sync.Mutex
	view  map[string]json.RawMessage
	ready bool // the REST snapshot of this connection is in the view
	conn  *client.Conn

	events     atomic.Uint64
	maskErrors atomic.Uint64
	// maskChecked counts the numbers and names a privacy user's check
	// looked at (so a run with no calls shows as such).
	maskChecked atomic.Uint64
	logins      atomic.Uint64
	maskSample  atomic.Pointer[string]
}

// run keeps the client logged in until ctx ends.
func (c *soakClient) run(ctx context.Context, hc *http.Client, restURL func() string) {
	for ctx.Err() == nil {
		if err := c.session(ctx, hc, restURL); err != nil && ctx.Err() == nil {
			_ = sleepCtx(ctx, time.Second)
		}
	}
}

// session is one connection: dial, read the REST snapshot, follow events
// until the connection ends.
func (c *soakClient) session(ctx context.Context, hc *http.Client, restURL func() string) error {
	view := map[string]json.RawMessage{}
	c.mu.Lock()
	c.view, c.ready = view, false
	c.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := client.Dial(dctx, client.Options{URL: c.url, User: UserName(c.user), Token: c.token, UAType: "desktop",
		OnRaw: func(frame []byte, at time.Time) bool {
			// Only a change newer than any before counts: a resync sends
			// the current state again, with its old marker.
			if _, nanos, ok := ParseMarker(frame); ok && nanos > c.newest.Load() {
				c.newest.Store(nanos)
				c.hist.Load().Record(at.Sub(time.Unix(0, nanos)))
			}
			return false
		},
		OnEvent: func(name string, args []json.RawMessage, _ time.Time) { c.onEvent(view, name, args) }})
	cancel()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c.logins.Add(1)
	defer conn.Close()
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	snap, err := restExtensions(ctx, hc, restURL(), c.token)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for k, raw := range snap {
		if _, ok := view[k]; !ok {
			view[k] = raw
		}
	}
	c.ready = true
	c.mu.Unlock()
	select {
	case <-conn.Done():
	case <-ctx.Done():
	}
	return conn.Err()
}

func (c *soakClient) onEvent(view map[string]json.RawMessage, name string, args []json.RawMessage) {
	c.events.Add(1)
	if name != "extenUpdate" || len(args) != 1 {
		return
	}
	var e struct {
		Exten string `json:"exten"`
	}
	if json.Unmarshal(args[0], &e) != nil {
		return
	}
	if c.privacy && e.Exten != Extension(c.user) {
		bad, n := unmasked(args[0])
		c.maskChecked.Add(uint64(n))
		if bad != "" {
			c.maskErrors.Add(1)
			s := fmt.Sprintf("%s got %s of extension %s", UserName(c.user), bad, e.Exten)
			c.maskSample.CompareAndSwap(nil, &s)
		}
	}
	c.mu.Lock()
	view[e.Exten] = args[0]
	c.mu.Unlock()
}

// unmasked returns the first clear number or name in an extension's JSON
// masked with soakPrivacyMask ("" when everything is masked) and how many
// numbers and names it checked: forwarding
// numbers and, in every conversation, the counterpart and both channels'
// numbers end with the mask (pbx.MaskNumber; a placeholder without digits
// stays), names are the mask.
func unmasked(raw json.RawMessage) (bad string, checked int) {
	type channel struct {
		CallerNum   *string `json:"callerNum"`
		CallerName  *string `json:"callerName"`
		BridgedNum  *string `json:"bridgedNum"`
		BridgedName *string `json:"bridgedName"`
	}
	var e struct {
		CF, CFB, CFU  string
		Conversations map[string]struct {
			CounterpartNum  string   `json:"counterpartNum"`
			CounterpartName string   `json:"counterpartName"`
			ChSource        *channel `json:"chSource"`
			ChDest          *channel `json:"chDest"`
		} `json:"conversations"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return "undecodable JSON", 0
	}
	num := func(field, v string) string {
		if hasDigit(v) {
			checked++
		}
		if hasDigit(v) && !strings.HasSuffix(v, soakPrivacyMask) {
			return fmt.Sprintf("%s %q", field, v)
		}
		return ""
	}
	name := func(field string, v *string) string {
		if v != nil {
			checked++
		}
		if v != nil && *v != soakPrivacyMask {
			return fmt.Sprintf("%s %q", field, *v)
		}
		return ""
	}
	for _, f := range []string{num("cf", e.CF), num("cfb", e.CFB), num("cfu", e.CFU)} {
		if f != "" {
			return f, checked
		}
	}
	for _, cv := range e.Conversations {
		cn := cv.CounterpartName
		checks := []string{num("counterpartNum", cv.CounterpartNum), name("counterpartName", &cn)}
		for _, ch := range []*channel{cv.ChSource, cv.ChDest} {
			if ch == nil {
				continue
			}
			if ch.CallerNum != nil {
				checks = append(checks, num("callerNum", *ch.CallerNum))
			}
			if ch.BridgedNum != nil {
				checks = append(checks, num("bridgedNum", *ch.BridgedNum))
			}
			checks = append(checks, name("callerName", ch.CallerName), name("bridgedName", ch.BridgedName))
		}
		for _, f := range checks {
			if f != "" {
				return f, checked
			}
		}
	}
	return "", checked
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

// matches compares the client's view with snap (its node's REST snapshot
// for its user); it returns the extensions that differ (up to 3) and
// whether the client is logged in with its snapshot read.
func (c *soakClient) matches(snap map[string]json.RawMessage) (diff []string, ready bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, false
	}
	for k, raw := range snap {
		if string(normaliseJSON(c.view[k])) != string(normaliseJSON(raw)) {
			diff = append(diff, k)
		}
	}
	for k := range c.view {
		if _, ok := snap[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff[:min(len(diff), 3)], true
}

// viewOf returns the client's view of extension k.
func (c *soakClient) viewOf(k string) json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view[k]
}

// disconnect closes the client's connection (it logs in again).
func (c *soakClient) disconnect() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// normaliseJSON re-encodes raw with sorted keys and without the fields
// that are computed at read time (durations).
func normaliseJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for _, k := range []string{"duration", "waiting", "waitingTime", "date"} {
				delete(t, k)
			}
			for _, y := range t {
				walk(y)
			}
		case []any:
			for _, y := range t {
				walk(y)
			}
		}
	}
	walk(v)
	b, _ := json.Marshal(v)
	return string(b)
}

// restExtensions GETs /webrest/astproxy/extensions from base with token.
func restExtensions(ctx context.Context, hc *http.Client, base, token string) (map[string]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/webrest/astproxy/extensions", nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET extensions: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET extensions: HTTP %d", resp.StatusCode)
	}
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("GET extensions: %w", err)
	}
	return m, nil
}

// soakToken signs a day-long JWT for bench user i.
func soakToken(i int, secret []byte) (string, error) {
	tok, err := auth.SignJWT(UserName(i), TenantID, secret, 24*time.Hour, time.Now())
	if err != nil {
		return "", fmt.Errorf("sign JWT for %s: %w", UserName(i), err)
	}
	return tok, nil
}
