package ws

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogram reads a histogram's observation count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestSocketEventToWrite: a write of frames that carry bus events observes
// ctiws_event_to_write_seconds once, from the oldest stamp among them (a
// lower bound the stamps make certain: no timing assumed); a write without
// stamped frames observes nothing; a conflated frame takes the stamp of its
// replacement. Pool writers and the flusher alike.
func TestSocketEventToWrite(t *testing.T) {
	type frame struct {
		text, key string
		age       time.Duration // 0: no stamp
	}
	tests := []struct {
		name      string
		frames    []frame
		read      []string
		wantCount uint64
		minSum    float64 // seconds
		maxSum    float64 // 0: no bound (a bound far above any scheduling delay)
	}{
		{"one stamped frame", []frame{{"a", "", 2 * time.Second}}, []string{"a"}, 1, 2, 0},
		{"oldest of a burst, once", []frame{{"a", "", time.Second}, {"b", "", 3 * time.Second}, {"c", "", 0}}, []string{"a", "b", "c"}, 1, 3, 0},
		{"no stamp, no observation", []frame{{"a", "", 0}, {"b", "", 0}}, []string{"a", "b"}, 0, 0, 0},
		{"a replaced frame's stamp is replaced", []frame{{"old", "k", time.Hour}, {"new", "k", time.Second}}, []string{"new"}, 1, 1, 60},
	}
	for _, mode := range []string{"pool", "flusher"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				peers := newSocketPeers(t, 64)
				m := NewMetrics(prometheus.NewRegistry())
				peers.out = newWriters(m)
				s, cli := peers.pair()
				if mode == "flusher" {
					s.raw = nil
				}
				hold(s) // every frame leaves in one write
				now := time.Now()
				for _, f := range tt.frames {
					var at int64
					if f.age > 0 {
						at = now.Add(-f.age).UnixNano()
					}
					if _, _, err := s.queueAt(opText, []byte(f.text), f.key, at); err != nil {
						t.Fatalf("queue %q: %v", f.text, err)
					}
				}
				s.mu.Lock()
				s.flushing = false
				s.mu.Unlock()
				s.wake()
				for _, want := range tt.read {
					readText(t, cli, []byte(want))
				}
				waitFor(t, "the writer lets go", func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return !s.flushing
				})
				count, sum := histogram(t, m.EventToWrite)
				if count != tt.wantCount || sum < tt.minSum || (tt.maxSum > 0 && sum > tt.maxSum) {
					t.Fatalf("ctiws_event_to_write_seconds: %d observations, sum %.3f s; want %d, sum ≥ %g s (at most %g, 0: unbounded)", count, sum, tt.wantCount, tt.minSum, tt.maxSum)
				}
			})
		}
	}
}

// BenchmarkEventToWriteObserve measures what ctiws_event_to_write_seconds
// adds to each socket write (a clock read and one observation), alone and
// with every CPU's pool writer observing at once.
func BenchmarkEventToWriteObserve(b *testing.B) {
	w := newWriters(NewMetrics(prometheus.NewRegistry()))
	at := time.Now().UnixNano()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			w.written(at)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.written(at)
			}
		})
	})
}

// TestWritersSampleEventToWrite: a pool writer observes the first write of
// a bus event in each batch of ready sockets, not every socket's: a burst
// to 2·writerBatch+1 sockets makes three observations.
func TestWritersSampleEventToWrite(t *testing.T) {
	peers := newSocketPeers(t, 64)
	m := NewMetrics(prometheus.NewRegistry())
	peers.out = newWriters(m)
	w := peers.out
	const sockets = 2*writerBatch + 1
	at := time.Now().Add(-time.Second).UnixNano()
	var clis []*websocket.Conn
	w.mu.Lock()
	w.running = 1 // this goroutine is the writer: nothing else starts
	w.mu.Unlock()
	for i := range sockets {
		s, cli := peers.pair()
		clis = append(clis, cli)
		if _, _, err := s.queueAt(opText, []byte{'a' + byte(i%26)}, "", at); err != nil {
			t.Fatal(err)
		}
		// What wake does, without starting a writer.
		s.mu.Lock()
		s.waking, s.flushing = false, true
		s.mu.Unlock()
		w.mu.Lock()
		w.list = append(w.list, s)
		w.mu.Unlock()
	}
	w.run()
	for i, cli := range clis {
		readText(t, cli, []byte{'a' + byte(i%26)})
	}
	if count, _ := histogram(t, m.EventToWrite); count != 3 {
		t.Fatalf("ctiws_event_to_write_seconds: %d observations for %d sockets in batches of %d, want 3", count, sockets, writerBatch)
	}
}
