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
	e.buf = e.app.extension(e.buf[:0], v)
	return e.buf
}

// Trunk marshals v.
func (e *Encoder) Trunk(v *Trunk) []byte {
	e.buf = e.app.trunk(e.buf[:0], v)
	return e.buf
}

// Queue marshals v.
func (e *Encoder) Queue(v *Queue) []byte {
	e.buf = e.app.queue(e.buf[:0], v)
	return e.buf
}

// QueueMember marshals v.
func (e *Encoder) QueueMember(v *QueueMember) []byte {
	e.buf = appendQueueMember(e.buf[:0], v, false)
	return e.buf
}

// Parking marshals v.
func (e *Encoder) Parking(v *Parking) []byte {
	e.buf = appendParking(e.buf[:0], v)
	return e.buf
}

// Conference marshals v.
func (e *Encoder) Conference(v *Conference) []byte {
	e.buf = e.app.conference(e.buf[:0], v)
	return e.buf
}

// Voicemail marshals v.
func (e *Encoder) Voicemail(v *Voicemail) []byte {
	e.buf = appendVoicemail(e.buf[:0], v)
	return e.buf
}
