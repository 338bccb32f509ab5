// Package ami connects to an Asterisk Manager Interface, keeps a live model
// of one PBX (extensions, conversations, queues, trunks, parkings,
// conferences, voicemail counters) and turns AMI traffic into the change
// events of cluster (extenChanged, queueChanged, …), fired only when an
// object's JSON really changed.
//
// The layers, bottom up:
//   - framer/parse: blank-line framing with a size cap, goami2.Parse guarded
//     by recover, and a tolerant fallback parser;
//   - Conn: banner, login, ActionID correlation, event lists, keepalive;
//   - Model: channel table and derived objects (docs/ami-model.md, sections 2–5);
//   - Runner: reconnects with backoff, snapshots, reconciles, runs commands.
//
// Nothing here is package-level mutable state: several runners (tenants) run
// side by side in one process.
package ami
