package ami

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// realPBXDir holds the flows captured from a real Asterisk 22.10.1 by
// TestRealPBX (cmd/ctiws), with the PBX's users and objects.
const realPBXDir = "../cmd/ctiws/testdata/realpbx"

// flowMark separates a captured flow's snapshot from the flow itself.
const flowMark = "# --- flow ---"

// BenchmarkModelRealPBX measures AMI events applied per second on the
// traffic a real Asterisk sent: every event of every flow captured by
// TestRealPBX (calls, transfers, queues, parkings, conferences, recording,
// DND and forwarding codes, three devices under one user: 4,100 events,
// 57 % of them the dialplan's VarSet and Newexten), applied in order to a
// model loaded with the PBX's snapshot, 32 events per Apply as in
// BenchmarkModel. Before each further pass every Uniqueid and Linkedid is
// moved to one never seen before (timer stopped), so no channel event is
// dropped as late. The messages are cold when applied (≈ 6 MB touched in
// between), as in BenchmarkModel.
func BenchmarkModelRealPBX(b *testing.B) {
	mix := loadRealPBXMix(b)
	m := realPBXModel(b, mix.snapshot)
	const batch = 32
	var out []cluster.Event
	emitted, events, pass, next := 0, 0, 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if next == len(mix.msgs) {
			b.StopTimer()
			pass++
			mix.renumber(pass)
			next = 0
			b.StartTimer()
		}
		end := min(next+batch, len(mix.msgs))
		out = m.Apply(out[:0], mix.msgs[next:end]...)
		emitted += len(out)
		events += end - next
		next = end
	}
	b.StopTimer()
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(emitted)/float64(events), "out/event")
}

// realPBXMix is the flows' events in order, with where their ids are.
type realPBXMix struct {
	snapshot string // the first flow's snapshot part, a transcript
	msgs     []*goami2.Message
	ids      []idRef
}

// idRef is a header holding a Uniqueid or Linkedid ("<epoch>.<n>").
type idRef struct {
	msg, hdr int
	epoch    int64
	seq      string
}

// renumber moves every id to pass's: the epoch plus pass million seconds,
// past any id the captures hold.
func (x *realPBXMix) renumber(pass int) {
	for _, r := range x.ids {
		x.msgs[r.msg].Headers()[r.hdr].Value = strconv.FormatInt(r.epoch+int64(pass)*1_000_000, 10) + "." + r.seq
	}
}

// loadRealPBXMix reads every captured flow.
func loadRealPBXMix(tb testing.TB) *realPBXMix {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(realPBXDir, "flows", "*.ami"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no captured flows in %s: %v", realPBXDir, err)
	}
	x := &realPBXMix{}
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		head, flow, ok := strings.Cut(string(raw), flowMark)
		if !ok {
			tb.Fatalf("%s: no %q line", f, flowMark)
		}
		if i == 0 {
			x.snapshot = head
		}
		tr, err := sim.ParseTranscript(strings.NewReader(flow))
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		for _, st := range tr.Steps {
			if st.Kind != sim.StepSend || len(st.Message.Headers) == 0 || !strings.EqualFold(st.Message.Headers[0].Key, "Event") {
				continue
			}
			m := goami2.NewMessage()
			for k, h := range st.Message.Headers {
				m.AddField(h.Key, h.Value)
				if r, ok := parseIDRef(h); ok {
					r.msg, r.hdr = len(x.msgs), k
					x.ids = append(x.ids, r)
				}
			}
			x.msgs = append(x.msgs, m)
		}
	}
	return x
}

// parseIDRef recognises a channel's Uniqueid or Linkedid header (any
// prefix: Dest, Transferee, Spyer…); bridge ids are not of that form.
func parseIDRef(h sim.Header) (idRef, bool) {
	name := strings.ToLower(h.Key)
	if !strings.HasSuffix(name, "uniqueid") && !strings.HasSuffix(name, "linkedid") {
		return idRef{}, false
	}
	e, s, ok := strings.Cut(h.Value, ".")
	epoch, err := strconv.ParseInt(e, 10, 64)
	if !ok || err != nil {
		return idRef{}, false
	}
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return idRef{}, false
	}
	return idRef{epoch: epoch, seq: s}, true
}

// realPBXModel returns a model that read the captured PBX's snapshot
// through a Runner, as a node does on connecting.
func realPBXModel(tb testing.TB, snapshot string) *Model {
	tb.Helper()
	dir, err := directory.Load(filepath.Join(realPBXDir, "users.json"), filepath.Join(realPBXDir, "profiles.json"))
	if err != nil {
		tb.Fatal(err)
	}
	objs, err := LoadObjects(filepath.Join(realPBXDir, "objects.json"))
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "snapshot.ami")
	if err := os.WriteFile(path, []byte(snapshot+"\n#drop\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	srv := newReplay(tb, path)
	r := srv.runner(dir, objs, Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	loaded := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- r.Run(ctx, func(context.Context, []cluster.Event) error {
			select {
			case <-loaded:
			default:
				close(loaded)
			}
			return nil
		})
	}()
	select {
	case <-loaded:
	case <-ctx.Done():
		tb.Fatal("the snapshot was not read")
	}
	if !waitFor(ctx, srv.played) {
		tb.Fatal("the snapshot transcript was not played to its end")
	}
	cancel()
	<-errc
	if len(r.model.exts) == 0 {
		tb.Fatal("the snapshot loaded no extension")
	}
	return r.model
}

// TestRealPBXMixPasses: BenchmarkModelRealPBX's passes are alike. Every
// pass publishes the first one's call events (none of its channel events
// is dropped as late: the renumbering works) and ends with no channel
// left; from the second pass on, passes publish the same events name by
// name (the first also settles the snapshot's leftovers: a voicemail
// count, queue members).
func TestRealPBXMixPasses(t *testing.T) {
	mix := loadRealPBXMix(t)
	m := realPBXModel(t, mix.snapshot)
	calls := []string{pbx.EvExtenDialing, pbx.EvExtenConnected, pbx.EvExtenHangup}
	var first, second map[string]int
	for pass := 0; pass < 3; pass++ {
		if pass > 0 {
			mix.renumber(pass)
		}
		got := map[string]int{}
		var out []cluster.Event
		for i := 0; i < len(mix.msgs); i += 32 {
			out = m.Apply(out[:0], mix.msgs[i:min(i+32, len(mix.msgs))]...)
			for _, ev := range out {
				got[ev.Name]++
			}
		}
		if n := len(m.chans); n != 0 {
			t.Fatalf("pass %d left %d channels", pass, n)
		}
		switch pass {
		case 0:
			first = got
			for _, name := range calls {
				if got[name] == 0 {
					t.Fatalf("pass 0 published no %s: %v", name, got)
				}
			}
		case 1:
			second = got
		default:
			if !maps.Equal(second, got) {
				t.Errorf("pass %d published %v, pass 1 %v", pass, got, second)
			}
		}
		for _, name := range calls {
			if got[name] != first[name] {
				t.Errorf("pass %d published %d %s, pass 0 %d", pass, got[name], name, first[name])
			}
		}
	}
}
