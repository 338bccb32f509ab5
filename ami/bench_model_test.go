package ami

import (
	"slices"
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/staskobzar/goami2"
)

// BenchmarkModel measures AMI events applied per second on a realistic
// mix: calls of callMix (32 events each), every one new to the model,
// with change detection and the marshalling of every changed object.
// The 512 calls are built once; before each further pass they are
// renumbered in place, with the timer stopped, to Uniqueids, Linkedids and
// channel names never seen before, so every channel event is applied (none
// is dropped as a late event of a hung-up Uniqueid) and a call publishes
// its 28 changes. Renumbering in place (rather than building the calls
// again) leaves almost no garbage of the benchmark's own for the timed
// passes' garbage collections to sweep; the messages are the same memory
// from pass to pass. They are cold when applied (≈ 16 MB touched since),
// where a reader's just-parsed message is in cache: a conservative choice
// (with 32 calls, ≈ 1 MB, the same model measures about 20 % less CPU).
// The model's state (extensions, queue, the Uniqueids gone) carries over.
func BenchmarkModel(b *testing.B) {
	benchModel(b, true)
}

// BenchmarkModelReplay is BenchmarkModel replaying the same 512 calls:
// from the second pass on their channel events carry Uniqueids that hung
// up before and the model drops them as late events (Model.gone), so a
// call publishes 8 changes instead of 28. It measures that path, not the
// realistic mix (it was BenchmarkModel up to f28a9be).
func BenchmarkModelReplay(b *testing.B) {
	benchModel(b, false)
}

func benchModel(b *testing.B, fresh bool) {
	const calls = 512
	msgs := make([][]*goami2.Message, calls)
	for i := range msgs {
		msgs[i] = callMix(i)
	}
	m := NewModel("t", testDirectory(b), testObjects(b), nil, nil, fixedNow)
	for _, id := range []string{"201", "202", "203"} {
		m.newExtension(id).obj.Status = "online"
	}
	m.queueFor("401")
	perCall := len(msgs[0])
	var out []cluster.Event
	emitted := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fresh && i > 0 && i%calls == 0 {
			b.StopTimer()
			pass := i / calls
			for k := range msgs {
				renumberCall(msgs[k], (pass-1)*calls+k, pass*calls+k)
			}
			b.StartTimer()
		}
		out = m.Apply(out[:0], msgs[i%calls]...)
		emitted += len(out)
	}
	b.StopTimer()
	events := float64(b.N * perCall)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(emitted)/events, "out/event")
}

// TestRenumberCall: BenchmarkModel's renumbered calls are the calls built
// afresh.
func TestRenumberCall(t *testing.T) {
	for _, c := range [][2]int{{0, 512}, {7, 1031}, {511, 1023}} {
		got, want := callMix(c[0]), callMix(c[1])
		renumberCall(got, c[0], c[1])
		if len(got) != len(want) {
			t.Fatalf("%v: %d events, want %d", c, len(got), len(want))
		}
		for k := range got {
			if g, w := got[k].Headers(), want[k].Headers(); !slices.Equal(g, w) {
				t.Fatalf("%v: event %d:\n%v\nwant\n%v", c, k, g, w)
			}
		}
	}
}
