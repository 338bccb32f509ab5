package ami

import (
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/staskobzar/goami2"
)

// BenchmarkModel measures AMI events applied per second on a realistic
// mix: calls of callMix (32 events each), every one new to the model,
// with change detection and the marshalling of every changed object.
// Each pass of 512 calls is built, with the timer stopped, with Uniqueids,
// Linkedids and channel names never seen before, so every channel event
// is applied (none is dropped as a late event of a hung-up Uniqueid) and
// a call publishes its 28 changes. The messages of a pass are freshly
// allocated just before it, as a reader's would be; the model's state
// (extensions, queue, the Uniqueids gone) carries over from pass to pass.
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
	build := func(pass int) {
		for i := range msgs {
			msgs[i] = callMix(pass*calls + i)
		}
	}
	build(0)
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
			build(i / calls)
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
