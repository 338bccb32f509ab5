// Package memory implements every interface of package cluster in process
// memory. It is the embedded default: one node, no Redis.
//
// All state is tenant-scoped and guarded by mutexes; a Backend has no
// goroutines of its own except one delivery goroutine per active
// subscription. Time is read through an injectable clock (WithClock) whose
// readings must carry Go's monotonic component (time.Now does), so TTLs and
// leases are immune to wall-clock jumps.
//
// Delivery guarantees of the Bus: every subscriber has its own bounded queue
// (WithQueueSize). The publisher never blocks on a subscriber. When a queue is
// full the event is dropped, counted in Stats().Dropped, and a synthetic
// resync event (Name cluster.EvResync, Tenant set, Epoch and Seq zero) is
// queued at the point of the first drop; the subscriber must re-read
// Bus.State when it sees it. Events that follow a resync and whose Seq is not
// above the Seq returned by State are duplicates and may be skipped.
package memory
