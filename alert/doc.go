// Package alert floods signed disaster alerts to every node that can be
// reached, over any mix of links, with no server.
//
// An Alert is a short text with a severity Level, an optional Area and a
// validity window, signed with the Ed25519 key of an Authority that the
// network trusts. Sign and Decode produce and read its single canonical
// CBOR encoding, at most wire.MaxAlertSize bytes.
//
// A Machine is one node's part in the flood, as a deterministic state
// machine: it starts no goroutines and reads no clock, socket or disk.
// Every method takes the current time. To drive one:
//
//   - Call NeighbourUp when a peer becomes reachable (a radio neighbour in
//     range, a new overlay contact) and NeighbourDown when it goes away.
//     NeighbourUp sends the peer a summary of the held alerts' IDs. The
//     peer replies with the alerts this node lacks and its own summary, so
//     two nodes that meet exchange only what either is missing.
//   - Give every wire.AlertPush and wire.AlertSummary that arrives to
//     HandleMessage with the sender's ID.
//   - Call Publish with an alert signed on this node (or received from a
//     local client) to start a flood; Restore with the alerts saved before
//     a restart.
//   - Call Tick once NextDeadline has passed: it drops expired alerts and
//     re-sends summaries every Config.SyncInterval, which repairs pushes
//     that were lost.
//   - After each call, send every Outgoing from Outbox to its peer (one-way,
//     best effort: a lost message is repaired by the next summary) and read
//     Events for the alerts accepted, rejected and dropped.
//
// A valid alert is forwarded once to every neighbour except the one it
// came from and any neighbour known to hold it already. The Machine rejects
// alerts that are malformed, unsigned, from an unknown authority, forged,
// expired, issued in the future or replayed, and rate-limits new alerts
// per sender and per authority with token buckets, counting each reason
// in Counters.
//
// Given the same calls with the same arguments, a Machine returns the
// same outputs in the same order. A Machine is not safe for concurrent use.
package alert
