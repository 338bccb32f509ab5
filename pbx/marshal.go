package pbx

import (
	"bytes"
	"encoding/json"
)

// Encoder marshals objects into a reused buffer, without HTML escaping (like
// JavaScript's JSON.stringify, so conversation ids keep their literal '>').
// It is not safe for concurrent use.
type Encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// Encode marshals v. The returned bytes are valid until the next call.
func (e *Encoder) Encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
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
