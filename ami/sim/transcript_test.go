package sim

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTranscript(t *testing.T) {
	f, err := os.Open("testdata/replay-first.ami")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTranscript(f)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, st := range tr.Steps {
		kinds = append(kinds, st.Kind.String())
	}
	want := []string{"expect", "send", "expect", "send", "sleep", "drop"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	run := tr.Steps[2]
	if len(run.Expect) != 2 || len(run.Expect[0].Answers) != 3 || len(run.Expect[1].Answers) != 3 {
		t.Fatalf("group run = %+v", run.Expect)
	}
	if tr.Steps[4].Sleep != 20*time.Millisecond {
		t.Fatalf("sleep = %v", tr.Steps[4].Sleep)
	}
	if tr.Steps[2].Expect[0].Answers[1].Get("BridgeId") != "" {
		t.Fatal("empty value not kept")
	}
}

func TestParseTranscriptErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no colon", "Event: X\nbroken line\n", "line 2: expected \"Key: Value\""},
		{"empty key", "\n\n: value\n", "line 3: expected"},
		{"bad sleep", "Event: X\n\n#sleep soon\n", "line 3: #sleep"},
		{"sleep without arg", "#sleep\n", "line 1: #sleep needs a duration"},
		{"negative sleep", "#sleep -1s\n", "line 1: #sleep: negative"},
		{"drop with arg", "#drop now\n", "line 1: #drop takes no argument"},
		{"empty action", "Action:\nFoo: bar\n", "line 1: Action block without an action name"},
		{"key with space", "Event: X\nBad Key: y\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTranscript(strings.NewReader(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseTranscriptCRLFAndComments(t *testing.T) {
	src := "# comment\r\nEvent: A\r\nX: 1\r\n# inside a block\r\nY: 2\r\n\r\n\r\n#sleeper is a comment\r\nEvent: B\r\n"
	tr, err := ParseTranscript(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Steps) != 2 || len(tr.Steps[0].Message.Headers) != 3 || tr.Steps[1].Message.Get("Event") != "B" {
		t.Fatalf("steps = %+v", tr.Steps)
	}
	if tr.Steps[1].Line != 9 {
		t.Fatalf("line = %d", tr.Steps[1].Line)
	}
}

// stripLines zeroes line numbers so that steps compare by content.
func stripLines(t *Transcript) {
	for i := range t.Steps {
		t.Steps[i].Line = 0
		for j := range t.Steps[i].Expect {
			t.Steps[i].Expect[j].Line = 0
		}
	}
}

func FuzzParseTranscript(f *testing.F) {
	for _, name := range []string{"testdata/replay-first.ami", "testdata/replay-second.ami"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("Action: Ping\n\nResponse: Success\nActionID: 1\n\n#sleep 1ms\n#drop\n")
	f.Add("Event: X\r\nK:\r\n\r\n#sleep 10s\r\n")
	f.Fuzz(func(t *testing.T, src string) {
		tr, err := ParseTranscript(strings.NewReader(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := tr.Format(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := ParseTranscript(&buf)
		if err != nil {
			t.Fatalf("formatted transcript does not parse: %v\n%s", err, buf.String())
		}
		stripLines(tr)
		stripLines(again)
		if !reflect.DeepEqual(tr, again) {
			t.Fatalf("round trip differs:\n%+v\n%+v", tr, again)
		}
	})
}
