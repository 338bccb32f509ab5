package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// Server-sent events: the live parts of the pages (a tenant's event tail,
// a user's trace) are text/event-stream responses that the page's script
// reads with EventSource.
const (
	// liveBuffer is how many events wait for a slow browser; past it they
	// are dropped and counted in the next line sent.
	liveBuffer = 512
	// livePing keeps proxies from closing an idle stream.
	livePing = 15 * time.Second
)

// tailLine is one event of a tenant's live tail.
type tailLine struct {
	Time    time.Time       `json:"time"`
	Name    string          `json:"name"`
	Key     string          `json:"key,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Target  string          `json:"target,omitempty"`
	Origin  string          `json:"origin,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Dropped int64           `json:"dropped,omitempty"`
}

// hiddenData stands for the data of an event the console user may not see
// unmasked and that has no masking of its own.
var hiddenData = json.RawMessage(`"(hidden: numbers are shown to console users with the unmasked right only)"`)

// lineOf is an event as the tail shows it to a console user who sees
// numbers masked with priv ("" = clear).
func lineOf(ev cluster.Event, priv string) tailLine {
	l := tailLine{Name: ev.Name, Key: ev.Key, Seq: ev.Seq, Target: ev.Target, Origin: ev.Origin, Data: ev.Data}
	if ev.Time != 0 {
		l.Time = time.Unix(0, ev.Time)
	}
	if priv != "" && len(ev.Data) > 0 {
		if ev.Key != "" {
			l.Data = masked(ev.Key, ev.Data, priv)
		} else {
			l.Data = hiddenData
		}
	}
	return l
}

// tenantEvents streams the tenant's bus, as it reaches this node.
func (c *Console) tenantEvents(w http.ResponseWriter, r *http.Request, ss session) {
	id := r.PathValue("id")
	if !c.knownTenant(r.Context(), id) || c.opt.Backend.Bus == nil {
		http.NotFound(w, r)
		return
	}
	priv := c.privacyOf(ss, id)
	c.stream(w, r, func(ctx context.Context, send func(any)) error {
		ch := make(chan cluster.Event, liveBuffer)
		var dropped atomic.Int64
		err := c.opt.Backend.Bus.Subscribe(ctx, id, func(evs []cluster.Event) {
			for _, ev := range evs {
				select {
				case ch <- ev:
				default:
					dropped.Add(1)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", id, err)
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-ch:
				l := lineOf(ev, priv)
				l.Dropped = dropped.Swap(0)
				send(l)
			}
		}
	})
}

// stream answers with server-sent events: run sends JSON values as
// "data:" lines until the client goes away; a comment line every livePing
// keeps the stream open.
func (c *Console) stream(w http.ResponseWriter, r *http.Request, run func(ctx context.Context, send func(any)) error) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": ctiws console\n\n")
	fl.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := make(chan []byte, liveBuffer)
	send := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		select {
		case out <- b:
		case <-ctx.Done():
		}
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, send) }()
	ping := time.NewTicker(livePing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-done:
			if err != nil {
				b, _ := json.Marshal(map[string]string{"error": err.Error()})
				_, _ = fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
				fl.Flush()
			}
			return
		case b := <-out:
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
