// Package sipp drives SIP phones for live tests with SIPp
// (Debian's sip-tester, /usr/bin/sipp): each registration and each call is
// one SIPp process, a child of the test, running a scenario rendered from
// the templates under scenarios/ on the phone's own loopback UDP port.
//
// A phone is an address and credentials:
//
//	p, _ := sipp.NewPhone("202", "pw202", "127.0.0.1")
//	_ = p.Register(ctx, pbx.SIPAddr(), 300)
//	in, _ := callee.Receive(ctx, sipp.Script{Ring: time.Second})  // listening when it returns
//	out, _ := p.Dial(ctx, pbx.SIPAddr(), "203", sipp.Script{Talk: 2 * time.Second})
//	err := out.Wait(ctx)
//
// Only one process can use a phone's port at a time: a phone that is
// dialling cannot receive, except the calls one Receive handles
// (Script.Calls). Start Receive before whatever makes the phone ring; a
// phone that must ring again later (a parking comeback) calls Receive again
// once its previous call has ended (the PBX retransmits its INVITE).
//
// Media is not sent: the SDP offers PCMU/PCMA on a dummy port.
package sipp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"

	"github.com/ctiws/ctiws/internal/freeport"
)

// Binary is where Debian's sip-tester installs SIPp.
const Binary = "/usr/bin/sipp"

// userAgent is the User-Agent header of the phones.
const userAgent = "ctiws-lab-sipp"

// ErrNoSIPp means the SIPp binary is missing.
var ErrNoSIPp = errors.New("sipp: SIPp is not installed (apt-get install sip-tester)")

// Phone is a SIP phone: its extension (the SIP user, and the From user of
// its calls), its digest password and its loopback address.
type Phone struct {
	Ext      string
	Password string
	// Addr is "ip:port"; 127.0.0.2 for the trunk peer.
	Addr string
}

// NewPhone returns a phone on ip (127.0.0.1, or 127.0.0.2 for the trunk
// peer) and a port free for UDP and TCP, picked below the ephemeral range.
func NewPhone(ext, password, ip string) (*Phone, error) {
	port, err := FreeUDPPort(ip)
	if err != nil {
		return nil, err
	}
	return &Phone{Ext: ext, Password: password, Addr: net.JoinHostPort(ip, strconv.Itoa(port))}, nil
}

// FreeUDPPort returns a port that freeport picked and that ip can bind for
// UDP (SIP runs over UDP; freeport checks TCP).
func FreeUDPPort(ip string) (int, error) {
	for range 50 {
		port, err := freeport.Pick()
		if err != nil {
			return 0, fmt.Errorf("sipp: %w", err)
		}
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		c.Close()
		return port, nil
	}
	return 0, fmt.Errorf("sipp: no free UDP port on %s", ip)
}

// Register sends a REGISTER with digest authentication to registrar
// ("ip:port") for expires seconds (0 unregisters) and returns once the
// 200 OK came.
func (p *Phone) Register(ctx context.Context, registrar string, expires int) error {
	if _, err := exec.LookPath(Binary); err != nil {
		return ErrNoSIPp
	}
	c, err := p.start(ctx, "register", registrar, scenarioData{
		Ext: p.Ext, Password: p.Password, Expires: expires, UserAgent: userAgent, StepMS: stepMS,
	}, 1)
	if err != nil {
		return err
	}
	if err := c.Wait(ctx); err != nil {
		return fmt.Errorf("sipp: register %s: %w", p.Ext, err)
	}
	return nil
}
