package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// Bound is the generous limit of every "eventually" in the suite.
const Bound = 10 * time.Second

// Unique returns prefix followed by random hex, so tests sharing a Redis
// never see each other's keys.
func Unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Eventually polls cond every 20 ms until it is true or bound passes.
func Eventually(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ctx returns a context that ends with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// IsSyntheticResync reports whether ev is a backend-generated resync signal
// (as opposed to an owner's fenced modelResync).
func IsSyntheticResync(ev cluster.Event) bool {
	return ev.Name == cluster.EvResync && ev.Seq == 0 && ev.Epoch == 0
}

// Collector records the events a subscription delivers.
type Collector struct {
	mu      sync.Mutex
	events  []cluster.Event
	resyncs int
}

// Fn is the subscription callback.
func (c *Collector) Fn(ev cluster.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if IsSyntheticResync(ev) {
		c.resyncs++
		return
	}
	c.events = append(c.events, ev)
}

// Events returns a copy of the recorded events (synthetic resyncs excluded).
func (c *Collector) Events() []cluster.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// Resyncs returns how many synthetic resyncs were delivered.
func (c *Collector) Resyncs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resyncs
}

// Has reports whether an event with name was recorded.
func (c *Collector) Has(name string) bool {
	return slices.ContainsFunc(c.Events(), func(ev cluster.Event) bool { return ev.Name == name })
}

// WaitFor waits until an event with name was recorded.
func (c *Collector) WaitFor(t testing.TB, name string) {
	t.Helper()
	Eventually(t, Bound, "event "+name+" delivered", func() bool { return c.Has(name) })
}

// WaitN waits until at least n events were recorded and returns them.
func (c *Collector) WaitN(t testing.TB, n int) []cluster.Event {
	t.Helper()
	Eventually(t, Bound, "enough events delivered", func() bool { return len(c.Events()) >= n })
	return c.Events()
}

// Names returns the names of evs joined by commas.
func Names(evs []cluster.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Name)
	}
	return strings.Join(s, ",")
}
