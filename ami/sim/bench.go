package sim

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// BenchUserAgentPrefix starts the UserAgent of every bench change:
// "bench/<seq>/<unix-nanos-at-write>".
const BenchUserAgentPrefix = "bench/"

// runBench emits Config.ChangesPerSecond bench changes per second while not
// paused. Each tick emits every change that is due since the start (so the
// average rate is exact even when ticks are late); a backlog of more than
// one second of changes is skipped rather than burst.
func (s *Server) runBench(ctx context.Context) {
	rate := s.cfg.ChangesPerSecond
	interval := time.Duration(float64(time.Second) / rate)
	interval = min(max(interval, time.Millisecond), 20*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		active time.Duration // unpaused time since start
		sent   uint64
		last   = time.Now()
	)
	maxBacklog := uint64(rate) + 1
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d := now.Sub(last)
			last = now
			s.mu.Lock()
			if s.paused || s.closed {
				s.mu.Unlock()
				continue
			}
			active += d
			due := uint64(active.Seconds() * rate)
			if due > sent+maxBacklog {
				s.log.Warn("bench changes behind schedule, skipping backlog", "skipped", due-sent-maxBacklog)
				sent = due - maxBacklog
			}
			for ; sent < due; sent++ {
				s.benchChange()
			}
			s.mu.Unlock()
		}
	}
}

// benchChange emits one bench change; mu held. The extension's contact
// UserAgent becomes the marker, so PJSIPShowEndpoint/PJSIPShowContacts agree
// with the event.
func (s *Server) benchChange() {
	p := s.pbx
	if len(p.extList) == 0 {
		return
	}
	s.benchSeq++
	e := p.extList[(s.benchSeq-1)%uint64(len(p.extList))]
	if s.cfg.BenchPresence {
		e.benchBusy = !e.benchBusy
		p.refresh(e)
	}
	e.ua = BenchUserAgentPrefix + strconv.FormatUint(s.benchSeq, 10) + "/" + strconv.FormatInt(time.Now().UnixNano(), 10)
	s.benchPerExt[e.id]++
	s.st.benchChanges.Add(1)
	p.emit(p.contactStatusEvent(e, "Updated"))
}

// ParseBenchUserAgent extracts the sequence number and the write time from
// a bench UserAgent ("bench/<seq>/<unix-nanos>"); ok is false for any other
// user agent.
func ParseBenchUserAgent(ua string) (seq uint64, written time.Time, ok bool) {
	rest, found := strings.CutPrefix(ua, BenchUserAgentPrefix)
	if !found {
		return 0, time.Time{}, false
	}
	seqStr, nsStr, found := strings.Cut(rest, "/")
	if !found {
		return 0, time.Time{}, false
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	ns, err := strconv.ParseInt(nsStr, 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(0, ns), true
}
