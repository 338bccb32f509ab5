package sim

import (
	"strconv"
	"strings"
)

// classMask is a set of AMI event classes (manager.conf read/write
// classes), used to filter events per connection.
type classMask uint32

const (
	clsSystem classMask = 1 << iota
	clsCall
	clsLog
	clsVerbose
	clsCommand
	clsAgent
	clsUser
	clsConfig
	clsDTMF
	clsReporting
	clsCDR
	clsDialplan
	clsOriginate
	clsAGI
	clsCC
	clsAOC
	clsTest
	clsSecurity
	clsMessage

	clsAll classMask = 1<<iota - 1
)

// classNames maps the class names accepted in Events / EventMask.
func classByName(name string) classMask {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "system":
		return clsSystem
	case "call":
		return clsCall
	case "log":
		return clsLog
	case "verbose":
		return clsVerbose
	case "command":
		return clsCommand
	case "agent":
		return clsAgent
	case "user":
		return clsUser
	case "config":
		return clsConfig
	case "dtmf":
		return clsDTMF
	case "reporting":
		return clsReporting
	case "cdr":
		return clsCDR
	case "dialplan":
		return clsDialplan
	case "originate":
		return clsOriginate
	case "agi":
		return clsAGI
	case "cc":
		return clsCC
	case "aoc":
		return clsAOC
	case "test":
		return clsTest
	case "security":
		return clsSecurity
	case "message":
		return clsMessage
	case "all":
		return clsAll
	}
	return 0
}

// parseEventMask parses the value of Events / EventMask: on/off (and the
// yes/no/true/false spellings), a number (any non-zero value is on) or a
// comma list of class names. ok is false when nothing was recognised.
func parseEventMask(s string) (mask classMask, ok bool) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "on", "yes", "true":
		return clsAll, true
	case "off", "no", "false":
		return 0, true
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n != 0 {
			return clsAll, true
		}
		return 0, true
	}
	for _, part := range strings.Split(v, ",") {
		if c := classByName(part); c != 0 {
			mask |= c
			ok = true
		}
	}
	return mask, ok
}

// Privilege strings of the events the simulator emits, with their class.
const (
	privCall     = "call,all"
	privSystem   = "system,all"
	privAgent    = "agent,all"
	privDialplan = "dialplan,all"
	privUser     = "user,all"
	privReport   = "reporting,all"
)

func classOfPrivilege(p string) classMask {
	switch p {
	case privCall:
		return clsCall
	case privSystem:
		return clsSystem
	case privAgent:
		return clsAgent
	case privDialplan:
		return clsDialplan
	case privUser:
		return clsUser
	case privReport:
		return clsReporting
	}
	var m classMask
	for _, part := range strings.Split(p, ",") {
		if part != "all" {
			m |= classByName(part)
		}
	}
	if m == 0 {
		return clsAll
	}
	return m
}
