package sipp

import (
	"fmt"
	"text/template"
)

// templateFuncs are the scenario templates' helpers: progress pairs the
// data with whether the INVITE's answers may be a digest challenge.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"progress": func(d *scenarioData, auth bool) any {
			return struct {
				D    *scenarioData
				Auth bool
			}{d, auth}
		},
	}
}

// scenarioData is what the scenario templates see (numbers in
// milliseconds: SIPp does not expand [keys] inside timeout attributes).
type scenarioData struct {
	Ext, Password, UserAgent string
	Expires                  int // register
	StepMS, ReferWaitMS      int

	UAC      bool
	Number   string // UAC: the number called
	Me, Peer string // From and To of the phone's in-dialog requests
	CancelMS int    // UAC: Script.Cancel
	Failures []int  // UAC: final statuses taken as a refusal

	Reject       int // UAS
	RejectReason string
	NoAnswer     bool
	RingMS       int

	SDPOffer sdp
	Steps    []step // after the answer
	WaitBye  bool   // then wait for the far end's BYE (else hang up)
	Bye      request
}

// sdp is one SDP body.
type sdp struct {
	Version, Port int
	Dir           string
}

// step is one thing done after the answer: a wait, or a request.
type step struct {
	Wait     *wait
	Request  *request
	Notifies bool // after a REFER: take NOTIFYs until the BYE
}

// wait pauses MS milliseconds (0: forever) unless the far end hangs up.
type wait struct {
	N, MS, StepMS int
	Ext           string
	SDP           sdp
}

// request is an in-dialog request the phone sends.
type request struct {
	Method, Log, Me, Peer, Ext, UserAgent string
	CSeq, Expect                          int
	SDP                                   *sdp
	Extra, Body                           string // extra header lines, body
}

// build turns the script's after-answer part into steps.
func (d *scenarioData) build(s Script) {
	cseq, n := 10, 0
	req := func(method, log string, expect int) *request {
		cseq++
		return &request{Method: method, Log: log, Me: d.Me, Peer: d.Peer, Ext: d.Ext,
			UserAgent: d.UserAgent, CSeq: cseq, Expect: expect}
	}
	pause := func(dur int) step {
		n++
		return step{Wait: &wait{N: n, MS: max(dur, 1), StepMS: d.StepMS, Ext: d.Ext, SDP: d.SDPOffer}}
	}
	for _, digit := range s.DTMF {
		r := req("INFO", "dtmf "+string(digit), 200)
		r.Extra = "      Content-Type: application/dtmf-relay"
		r.Body = fmt.Sprintf("Signal=%c\nDuration=160", digit)
		d.Steps = append(d.Steps, step{Request: r})
	}
	if s.Hold[0] > 0 || s.Hold[1] > 0 {
		d.Steps = append(d.Steps, pause(ms(s.Hold[0])))
		r := req("INVITE", "hold", 200)
		r.SDP = &sdp{Version: 2, Port: d.SDPOffer.Port, Dir: "sendonly"}
		d.Steps = append(d.Steps, step{Request: r}, pause(ms(s.Hold[1])))
		r = req("INVITE", "resume", 200)
		r.SDP = &sdp{Version: 3, Port: d.SDPOffer.Port, Dir: "sendrecv"}
		d.Steps = append(d.Steps, step{Request: r})
	}
	if s.Refer != "" {
		r := req("REFER", "refer", 202)
		r.Extra = "      Refer-To: <sip:" + s.Refer + "@[remote_ip]:[remote_port]>\n" +
			"      Referred-By: <sip:" + d.Ext + "@[local_ip]:[local_port]>"
		d.Steps = append(d.Steps, step{Request: r, Notifies: true})
	} else if s.Talk > 0 {
		d.Steps = append(d.Steps, pause(ms(s.Talk)))
	} else {
		d.WaitBye = true
	}
	d.Bye = *req("BYE", "bye", 200)
}
