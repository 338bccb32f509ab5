package eio

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		engine  byte
		sio     byte
		ns      string
		ack     int64
		data    string
		wantErr error
	}{
		{in: "2", engine: EnginePing, ack: NoAck, ns: "/"},
		{in: "3", engine: EnginePong, ack: NoAck, ns: "/"},
		{in: "40", engine: EngineMessage, sio: SIOConnect, ack: NoAck, ns: "/"},
		{in: `40{"token":"x"}`, engine: EngineMessage, sio: SIOConnect, ack: NoAck, ns: "/", data: `{"token":"x"}`},
		{in: "40/admin,", engine: EngineMessage, sio: SIOConnect, ack: NoAck, ns: "/admin"},
		{in: "40/admin", engine: EngineMessage, sio: SIOConnect, ack: NoAck, ns: "/admin"},
		{in: "41", engine: EngineMessage, sio: SIODisconnect, ack: NoAck, ns: "/"},
		{in: `42["login",{"a":1}]`, engine: EngineMessage, sio: SIOEvent, ack: NoAck, ns: "/", data: `["login",{"a":1}]`},
		{in: `421["ping"]`, engine: EngineMessage, sio: SIOEvent, ack: 1, ns: "/", data: `["ping"]`},
		{in: `4212345["ping"]`, engine: EngineMessage, sio: SIOEvent, ack: 12345, ns: "/", data: `["ping"]`},
		{in: `42/x,7["e"]`, engine: EngineMessage, sio: SIOEvent, ack: 7, ns: "/x", data: `["e"]`},
		{in: `433[]`, engine: EngineMessage, sio: SIOAck, ack: 3, ns: "/", data: `[]`},
		{in: "", wantErr: ErrEmpty},
		{in: "9", wantErr: ErrEngineType},
		{in: "x", wantErr: ErrEngineType},
		{in: "4", wantErr: ErrSIOType},
		{in: "49", wantErr: ErrSIOType},
		{in: `451-["a",{"_placeholder":true,"num":0}]`, wantErr: ErrBinary},
		{in: `42["login",`, wantErr: ErrPayload},
		{in: `42{bad`, wantErr: ErrPayload},
		{in: "421234567890123456[]", wantErr: ErrAckID},
		{in: "42\xff\xfe", wantErr: ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := Decode([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Decode(%q) err = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if f.Engine != tt.engine || f.SIO != tt.sio || f.Namespace != tt.ns || f.AckID != tt.ack || string(f.Data) != tt.data {
				t.Fatalf("Decode(%q) = %+v (data %q)", tt.in, f, f.Data)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	tests := []struct {
		in    string
		name  string
		nargs int
		err   bool
	}{
		{`42["login",{"accessKeyId":"a"}]`, "login", 1, false},
		{`42["ping"]`, "ping", 0, false},
		{`42["a",1,2,3]`, "a", 3, false},
		{`42[]`, "", 0, true},
		{`42[1]`, "", 0, true},
		{`42{"a":1}`, "", 0, true},
		{`42"str"`, "", 0, true},
	}
	for _, tt := range tests {
		f, err := Decode([]byte(tt.in))
		if err != nil {
			t.Fatalf("Decode(%q): %v", tt.in, err)
		}
		name, args, err := f.Event()
		if (err != nil) != tt.err {
			t.Fatalf("Event(%q) err = %v, want err %v", tt.in, err, tt.err)
		}
		if name != tt.name || len(args) != tt.nargs {
			t.Fatalf("Event(%q) = %q, %d args", tt.in, name, len(args))
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(Event("authe_ok", []byte(`{"message":"authorized successfully"}`))), `42["authe_ok",{"message":"authorized successfully"}]`},
		{string(Event("takeOver")), `42["takeOver"]`},
		{string(Event("actionNethLink", []byte(`"http://x"`), []byte(`"call"`))), `42["actionNethLink","http://x","call"]`},
		{string(Event(`we"ird`)), `42["we\"ird"]`},
		{string(Ack(4)), `434[]`},
		{string(Ack(12, []byte(`{"ok":true}`))), `4312[{"ok":true}]`},
		{string(OpenPacket("abc", 25000, 20000, 65536)), `0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":65536}`},
		{string(ConnectPacket("s1")), `40{"sid":"s1"}`},
		{string(ConnectErrorPacket("/admin", "Invalid namespace")), `44/admin,{"message":"Invalid namespace"}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
		if tt.want[0] == '4' && tt.want[1] == '2' {
			f, err := Decode([]byte(tt.got))
			if err != nil || !json.Valid(f.Data) {
				t.Errorf("round trip of %s failed: %v", tt.got, err)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"2", "3", "40", `42["login",{"accessKeyId":"alice","token":"t","uaType":"desktop"}]`,
		`421["ping"]`, `42/admin,3["x"]`, `433[]`, "41", `451-["a"]`, "4", "", `42["a",`, "40/x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			return
		}
		if fr.Engine == EngineMessage && fr.SIO == SIOEvent {
			name, args, err := fr.Event()
			if err == nil {
				// Re-encoding a decoded event must decode to the same event.
				out := Event(name, bytesOf(args)...)
				fr2, err := Decode(out)
				if err != nil {
					t.Fatalf("re-encoded %q does not decode: %v", out, err)
				}
				name2, args2, err := fr2.Event()
				if err != nil || name2 != name || len(args2) != len(args) {
					t.Fatalf("round trip mismatch: %q -> %q", b, out)
				}
			}
		}
	})
}

func bytesOf(raw []json.RawMessage) [][]byte {
	out := make([][]byte, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out
}

func BenchmarkEvent(b *testing.B) {
	payload := []byte(`{"exten":"201","name":"Alice","status":"busy","conversations":{}}`)
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendEvent(buf[:0], "extenUpdate", payload)
	}
}

func BenchmarkDecode(b *testing.B) {
	in := []byte(`421["ping"]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
