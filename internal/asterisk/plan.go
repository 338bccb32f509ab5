package asterisk

import "strings"

// The lab's numbering plan: fixed, flow tests rely on it. The dialplan and
// the PJSIP endpoints are rendered from these values.

// User is a PBX user: a main extension and its devices (PJSIP endpoints).
type User struct {
	Ext     string   // main extension: 201
	Name    string   // caller id name: "Alice Rossi"
	Devices []string // endpoints, the main one first: 201, 91201, 92201
	// Mailbox: the user has voicemail box <Ext>@default (*<ext> and
	// vmu<ext> leave a message in it).
	Mailbox bool
	// VMOnNoAnswer sends an unanswered call to the user's voicemail box.
	VMOnNoAnswer bool
}

// Users returns the numbering plan: alice (201) has a desk phone, a WebRTC
// and a mobile device; bob, carol and dave one phone each; erin (205) is
// configured but never registers. Every device's password is "pw" + its
// name (Password). Alice's devices all show caller id 201, as NethVoice's
// secondary devices do.
func Users() []User {
	return []User{
		{Ext: "201", Name: "Alice Rossi", Devices: []string{"201", "91201", "92201"}, Mailbox: true},
		{Ext: "202", Name: "Bruno Bianchi", Devices: []string{"202"}, Mailbox: true},
		{Ext: "203", Name: "Carla Conti", Devices: []string{"203"}, Mailbox: true},
		{Ext: "204", Name: "Dario De Luca", Devices: []string{"204"}, Mailbox: true, VMOnNoAnswer: true},
		{Ext: "205", Name: "Erin Esposito", Devices: []string{"205"}},
	}
}

// Numbers of the lab's dialplan.
const (
	TrunkEndpoint = "trunk1"     // the trunk's PJSIP endpoint, identified by 127.0.0.2
	TrunkIP       = "127.0.0.2"  // the trunk peer's address
	DIDAlice      = "0721405516" // inbound: rings 201's devices
	DIDQueue      = "0721405517" // inbound: queue 401
	DIDRingGroup  = "0721405518" // inbound: ring group 600
	QueueSupport  = "401"        // ringall, static member 203, dynamic 202
	QueueSales    = "402"        // ringall, static members 203 and 204
	RingGroup     = "600"        // 202, 203, 204 for 20 s
	ParkExten     = "70"         // park; spaces 71-78
	ConfRoom      = "300"        // ConfBridge room; 3<ext> is ext's own room
	VoicemailMain = "*97"        // own voicemail
	PickupPrefix  = "**"         // **<ext>: directed pickup
	DNDOn, DNDOff = "*78", "*79"
	CFOn, CFOff   = "*72", "*73" // *72<number>
	CFBOn, CFBOff = "*90", "*91" // *90<number>
	CFUOn, CFUOff = "*52", "*53" // *52<number>
)

// Password returns the SIP password of a device: "pw" + its name.
func Password(device string) string { return "pw" + device }

// dial is the Dial string ringing every device of u.
func (u User) dial() string {
	d := make([]string, len(u.Devices))
	for i, dev := range u.Devices {
		d[i] = "PJSIP/" + dev
	}
	return strings.Join(d, "&")
}

// hint is FreePBX's hint of a main extension.
func (u User) hint() string {
	return u.dial() + "&Custom:DND" + u.Ext + ",CustomPresence:" + u.Ext
}
