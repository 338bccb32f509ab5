package pbx

// seconds returns the whole seconds from startMs to nowMs, or 0 when nowMs is
// 0 (change detection), startMs is unknown, or the clocks disagree.
func seconds(nowMs, startMs int64) int64 {
	if nowMs == 0 || startMs == 0 || nowMs < startMs {
		return 0
	}
	return (nowMs - startMs) / 1000
}

// SetTimes fills every conversation's duration from its startTime and nowMs
// (epoch ms). nowMs 0 zeroes the durations.
func (e *Extension) SetTimes(nowMs int64) {
	for id, c := range e.Conversations {
		d := seconds(nowMs, c.StartTime)
		if c.Duration != d {
			c.Duration = d
			e.Conversations[id] = c
		}
	}
}

// HasTimes reports whether the extension's JSON depends on the clock.
func (e *Extension) HasTimes() bool { return len(e.Conversations) > 0 }

// SetTimes fills every waiting caller's waiting seconds from its
// waitingTime and nowMs. nowMs 0 zeroes them.
func (q *Queue) SetTimes(nowMs int64) {
	for id, w := range q.WaitingCallers {
		d := seconds(nowMs, w.WaitingTime)
		if w.Waiting != d {
			w.Waiting = d
			q.WaitingCallers[id] = w
		}
	}
}

// HasTimes reports whether the queue's JSON depends on the clock.
func (q *Queue) HasTimes() bool { return len(q.WaitingCallers) > 0 }

// SetTimes fills every conversation's duration. nowMs 0 zeroes them.
func (t *Trunk) SetTimes(nowMs int64) {
	for id, c := range t.Conversations {
		d := seconds(nowMs, c.StartTime)
		if c.Duration != d {
			c.Duration = d
			t.Conversations[id] = c
		}
	}
}

// HasTimes reports whether the trunk's JSON depends on the clock.
func (t *Trunk) HasTimes() bool { return len(t.Conversations) > 0 }

// SetTimes counts the parked caller's timeout down from the value read at
// ParkedAt. nowMs 0 zeroes it.
func (p *Parking) SetTimes(nowMs int64) {
	pc := &p.ParkedCaller
	if pc.Empty() {
		return
	}
	if nowMs == 0 {
		pc.Timeout = 0
		return
	}
	left := pc.TimeoutAt - seconds(nowMs, pc.ParkedAt)
	if left < 0 {
		left = 0
	}
	pc.Timeout = left
}

// HasTimes reports whether the parking's JSON depends on the clock.
func (p *Parking) HasTimes() bool { return !p.ParkedCaller.Empty() }
