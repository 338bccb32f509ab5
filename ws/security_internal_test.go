package ws

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

func TestFairPool(t *testing.T) {
	ctx := context.Background()
	p := newFairPool(1, 2)
	if err := p.acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	wait := func(tenant, name string) {
		go func() {
			if err := p.acquire(ctx, tenant); err != nil {
				got <- "err:" + name
				return
			}
			got <- name
		}()
	}
	waitQueued := func(tenant string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); p.queued(tenant) != n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("tenant %s: %d queued, want %d", tenant, p.queued(tenant), n)
			}
		}
	}
	wait("a", "a1")
	waitQueued("a", 1)
	wait("a", "a2")
	waitQueued("a", 2)
	// a's queue is full: refused at once; b has its own queue.
	if err := p.acquire(ctx, "a"); !errors.Is(err, errBcryptBusy) {
		t.Fatalf("full queue: %v", err)
	}
	wait("b", "b1")
	waitQueued("b", 1)
	// A cancelled waiter leaves its queue.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- p.acquire(cctx, "c") }()
	waitQueued("c", 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	waitQueued("c", 0)
	// Slots go round-robin: a1, then b1 (before a's second waiter), a2.
	var order []string
	for range 3 {
		p.release()
		order = append(order, <-got)
	}
	if strings.Join(order, ",") != "a1,b1,a2" {
		t.Fatalf("grant order %v, want a1,b1,a2", order)
	}
	p.release()
	if err := p.acquire(ctx, "a"); err != nil {
		t.Fatalf("free slot not reused: %v", err)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxy", "192.0.2.7:5000", "", trusted, "192.0.2.7"},
		{"forged XFF from an untrusted peer", "192.0.2.7:5000", "198.51.100.1", trusted, "192.0.2.7"},
		{"XFF ignored without trusted proxies", "10.1.1.1:5000", "198.51.100.1", nil, "10.1.1.1"},
		{"trusted proxy", "10.1.1.1:5000", "198.51.100.1", trusted, "198.51.100.1"},
		{"chain: rightmost untrusted", "10.1.1.1:5000", "203.0.113.9, 198.51.100.1, 10.2.2.2", trusted, "198.51.100.1"},
		{"garbage in XFF", "10.1.1.1:5000", "nonsense, 10.2.2.2", trusted, "10.2.2.2"},
		{"only proxies", "10.1.1.1:5000", "10.2.2.2", trusted, "10.2.2.2"},
		{"IPv6 counted per /64", "[2001:db8:1:2:3:4:5:6]:5000", "", trusted, "2001:db8:1:2::/64"},
		{"IPv4-mapped", "[::ffff:192.0.2.7]:5000", "", trusted, "192.0.2.7"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := addrKey(clientAddr(r, tt.trusted)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestBcryptQueueFull: when a tenant's password-check queue is full, a login
// gets 503 with Retry-After at once; another tenant still gets in line.
func TestBcryptQueueFull(t *testing.T) {
	dir, err := directory.Parse([]byte(`{"alice":{"name":"A","endpoints":{}}}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := auth.ParseHtpasswd(nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id string) *Tenant {
		return NewTenant(id, []string{id + ".example"}, &TenantConfig{Directory: dir, AuthEnabled: true, Htpasswd: h})
	}
	mb := memory.New()
	defer mb.Close()
	s := New(Options{NodeID: "n", Backend: mb.Cluster(), Tenants: []*Tenant{mk("ta"), mk("tb")}, BcryptConcurrency: 1, BcryptQueue: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	if err := s.api.bcrypt.acquire(ctx, "ta"); err != nil { // the only slot, busy
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() { queued <- s.api.bcrypt.acquire(ctx, "ta") }()
	for deadline := time.Now().Add(5 * time.Second); s.api.bcrypt.queued("ta") != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("waiter never queued")
		}
	}
	login := func(host string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/webrest/authentication/login", strings.NewReader(`{"username":"alice","password":"x"}`))
		r.Host = host
		w := httptest.NewRecorder()
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		s.Handler().ServeHTTP(w, r.WithContext(rctx))
		return w
	}
	w := login("ta.example")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("full queue: HTTP %d Retry-After %q, want 503 and 1", w.Code, w.Header().Get("Retry-After"))
	}
	if got := s.api.bcrypt.queued("tb"); got != 0 {
		t.Fatalf("tb queued %d", got)
	}
	// tb is not refused: it waits in its own queue (here until the request
	// context ends, as the slot stays busy).
	if w := login("tb.example"); w.Code == http.StatusServiceUnavailable {
		t.Fatalf("tb refused because ta's queue is full")
	}
	s.api.bcrypt.release()
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	s.api.bcrypt.release()
}

// TestLoginFloodShare: a flood of correct logins from one address takes at
// most its share of the tenant's bcrypt queue (429 with Retry-After beyond
// it); a login from another address still finds room and passes.
func TestLoginFloodShare(t *testing.T) {
	dir, err := directory.Parse([]byte(`{"alice":{"name":"A","endpoints":{}},"bob":{"name":"B","endpoints":{}}}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for _, up := range [][2]string{{"alice", "pwa"}, {"bob", "pwb"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(up[1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, up[0]+":"+string(h)+"\n"...)
	}
	h, err := auth.ParseHtpasswd(lines)
	if err != nil {
		t.Fatal(err)
	}
	mb := memory.New()
	defer mb.Close()
	s := New(Options{NodeID: "n", Backend: mb.Cluster(), BcryptConcurrency: 1, BcryptQueue: 4, BcryptPerAddress: 2,
		Tenants: []*Tenant{NewTenant("t", nil, &TenantConfig{Directory: dir, AuthEnabled: true, Htpasswd: h})},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))})
	login := func(addr, user, pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/webrest/authentication/login", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
		r.RemoteAddr = addr + ":40000"
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	ok := func(w *httptest.ResponseRecorder) bool {
		return w.Code == http.StatusUnauthorized && strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Digest ")
	}
	ctx := context.Background()
	if err := s.api.bcrypt.acquire(ctx, "t"); err != nil { // the only slot, busy: the flood queues
		t.Fatal(err)
	}
	const flood = 10
	results := make(chan *httptest.ResponseRecorder, flood+1)
	for range flood {
		go func() { results <- login("192.0.2.1", "alice", "pwa") }()
	}
	var refused []*httptest.ResponseRecorder
	for len(refused) < flood-2 {
		select {
		case w := <-results:
			refused = append(refused, w)
		case <-time.After(5 * time.Second):
			t.Fatalf("flood: %d answers before the slot is free, want %d", len(refused), flood-2)
		}
	}
	for _, w := range refused {
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
			t.Fatalf("flood beyond its share: HTTP %d Retry-After %q, want 429 and 1", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if got := s.api.bcrypt.queued("t"); got != 2 {
		t.Fatalf("flood queued %d checks, want its share 2", got)
	}
	other := make(chan *httptest.ResponseRecorder, 1)
	go func() { other <- login("198.51.100.7", "bob", "pwb") }()
	for deadline := time.Now().Add(5 * time.Second); s.api.bcrypt.queued("t") != 3; time.Sleep(time.Millisecond) {
		select {
		case w := <-other:
			t.Fatalf("the other address was answered HTTP %d while the flood waited", w.Code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the other address's login never queued")
		}
	}
	s.api.bcrypt.release()
	if w := <-other; !ok(w) {
		t.Fatalf("the other address's correct login: HTTP %d, want success", w.Code)
	}
	for range 2 {
		if w := <-results; !ok(w) {
			t.Fatalf("a queued flood login: HTTP %d, want success", w.Code)
		}
	}
	if got := testutil.ToFloat64(s.metrics.LoginThrottled.WithLabelValues("t", "address_share")); got != flood-2 {
		t.Errorf("login_throttled_total{address_share} = %v, want %d", got, flood-2)
	}
}
