package pbx

import (
	"bytes"
	"encoding/json"
)

// Encoder marshals objects into a reused buffer, without HTML escaping (like
// JavaScript's JSON.stringify, so conversation ids keep their literal '>').
// The object types of this package are written by append encoders (no
// reflection, no allocation); anything else goes through encoding/json.
// It is not safe for concurrent use.
type Encoder struct {
	buf []byte
	app appender
	js  bytes.Buffer
	enc *json.Encoder
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = json.NewEncoder(&e.js)
	e.enc.SetEscapeHTML(false)
	return e
}

// Encode marshals v. The returned bytes are valid until the next call.
func (e *Encoder) Encode(v any) ([]byte, error) {
	e.app.marks = e.app.marks[:0]
	if b, ok := e.app.append(e.buf[:0], v); ok {
		e.buf = b
		return b, nil
	}
	e.js.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	b := e.js.Bytes()
	return b[:len(b)-1], nil // drop the newline Encode appends
}

// Marshal marshals v like Encoder.Encode into a new slice.
func Marshal(v any) ([]byte, error) {
	b, err := NewEncoder().Encode(v)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// The typed encoders below are Encode for one type each, without the
// interface conversion (which would move the value to the heap). The
// returned bytes are valid until the next call.

// Extension marshals v.
func (e *Encoder) Extension(v *Extension) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = e.app.extension(e.buf[:0], v)
	return e.buf
}

// Trunk marshals v.
func (e *Encoder) Trunk(v *Trunk) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = e.app.trunk(e.buf[:0], v)
	return e.buf
}

// Queue marshals v.
func (e *Encoder) Queue(v *Queue) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = e.app.queue(e.buf[:0], v)
	return e.buf
}

// QueueMember marshals v.
func (e *Encoder) QueueMember(v *QueueMember) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = appendQueueMember(e.buf[:0], v, false)
	return e.buf
}

// Parking marshals v.
func (e *Encoder) Parking(v *Parking) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = e.app.parking(e.buf[:0], v)
	return e.buf
}

// Conference marshals v.
func (e *Encoder) Conference(v *Conference) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = e.app.conference(e.buf[:0], v)
	return e.buf
}

// Voicemail marshals v.
func (e *Encoder) Voicemail(v *Voicemail) []byte {
	e.app.marks = e.app.marks[:0]
	e.buf = appendVoicemail(e.buf[:0], v)
	return e.buf
}

// The comparison encoders below write the JSON of an object with clock
// derived fields as after SetTimes(0), without changing the object, and
// note where those fields are: Stamp then gives the JSON as after
// SetTimes(nowMs) without marshalling again. The returned bytes are valid
// until the next call.

// CompareExtension writes the comparison JSON of v.
func (e *Encoder) CompareExtension(v *Extension) []byte {
	e.startCompare()
	e.buf = e.app.extension(e.buf[:0], v)
	return e.endCompare()
}

// CompareTrunk writes the comparison JSON of v.
func (e *Encoder) CompareTrunk(v *Trunk) []byte {
	e.startCompare()
	e.buf = e.app.trunk(e.buf[:0], v)
	return e.endCompare()
}

// CompareQueue writes the comparison JSON of v.
func (e *Encoder) CompareQueue(v *Queue) []byte {
	e.startCompare()
	e.buf = e.app.queue(e.buf[:0], v)
	return e.endCompare()
}

// CompareParking writes the comparison JSON of v.
func (e *Encoder) CompareParking(v *Parking) []byte {
	e.startCompare()
	e.buf = e.app.parking(e.buf[:0], v)
	return e.endCompare()
}

func (e *Encoder) startCompare() {
	e.app.cmp = true
	e.app.marks = e.app.marks[:0]
}

func (e *Encoder) endCompare() []byte {
	e.app.cmp = false
	return e.buf
}

// Timed reports whether the comparison JSON of the last call has clock-derived fields
// (the object's HasTimes).
func (e *Encoder) Timed() bool { return len(e.app.marks) > 0 }

// Stamp returns, in a new slice, the comparison JSON of the last call with
// its clock-derived fields for nowMs (epoch ms); after another call it is
// a copy of that call's JSON.
func (e *Encoder) Stamp(nowMs int64) []byte { return e.app.stamp(e.buf, nowMs) }
