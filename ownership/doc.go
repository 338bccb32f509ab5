// Package ownership is the owner of a tenant's PBX on a ctiws node: it
// competes for the tenant's lease, drives the AMI connection while it holds
// it, publishes the model's events through the fenced bus (the emit
// function handed to PBX.Run is where the AMI side meets the bus), carries
// out the commands queued for the owner, and polls the tenant's streaming
// sources.
//
// A node runs one Owner per tenant in a Set (Start, Options), which adds
// and removes tenants while it runs and shares among the owners one lease
// Renewer, one StartGate and one view of the live nodes. PBXs builds the
// AMI runner of each ownership term (and a simulated PBX for tenants with
// AMI address "sim").
//
// The rules it keeps (docs/cluster.md, section "One owner at a time"):
//
//   - One owner at a time. A node owns a tenant's PBX only while it holds
//     the tenant's lease (cluster.Ownership), and it takes a free lease
//     only while it holds fewer than its share of the tenants
//     (ceil(tenants/nodes)+1), handing extra ones back so the leases
//     spread over the nodes.
//   - Step-down before expiry. The Renewer renews every lease of the node
//     in one batch per third of the TTL and gives a lease up two thirds of
//     the TTL after the last successful renewal was sent; a lost, overdue
//     or handed-back lease ends the ownership term at once: the AMI session
//     stops and the node no longer counts itself the owner, and only then
//     is the lease released.
//   - Fencing. Events are published only with PublishFenced and the
//     term's lease; a refusal (cluster.ErrNotOwner) ends the term, so a
//     paused former owner cannot publish stale events.
//   - Fast takeover only of a node known dead. A lease is taken before its
//     TTL only from a holder seen connected to the same Redis server and
//     missing from it now (docs/cluster.md, section "Fast takeover of a
//     dead owner (node side)").
//
// A panic in an owner's goroutines ends its term (the lease is released and
// competed for again); a panicking command fails alone. The package knows
// nothing of the configuration file or the command line: cmd/ctiws wires
// it.
package ownership
