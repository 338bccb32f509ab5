package ami

import (
	"testing"

	"github.com/ctiws/ctiws/cluster"
	"github.com/staskobzar/goami2"
)

// BenchmarkModelFresh is BenchmarkModel with every call new to the model.
// BenchmarkModel replays its 512 calls: from its second pass on, the
// channel events of a call carry Uniqueids that hung up before, and the
// model drops them as late events (Model.gone), so most of its events cost
// a lookup and publish nothing. Here each pass of 512 calls is rebuilt,
// with the timer stopped, with Uniqueids and channel names never seen.
func BenchmarkModelFresh(b *testing.B) {
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
		if i > 0 && i%calls == 0 {
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
