// Package town simulates disaster alerts on a multi-hop radio mesh: the
// relays of a town, the people who walk between them, relays that fail
// and recover, and the protocols that carry an alert to everyone.
//
// The mesh is a directed graph of radio links. Each link carries the
// RSSI and LQI a receiver measures and the delivery probability derived
// from them. A transmission is a broadcast: it reaches every neighbour
// that hears the sender, each one independently with its link's delivery
// probability, after a random hop latency. Graphs come from the measured
// neighbour tables of the ULB library deployment (ParseULB) or from a
// generator whose link statistics are fitted to them (Generate).
//
// Protocols plug in through Protocol and Relay, which see only frames and
// virtual time, as a deterministic core does. Run drives one scenario for
// one seed and returns the delivery ratio, latencies and transmissions,
// next to the connectivity limit: the share of receivers that any
// protocol could reach through the links that were up. Every random
// choice comes from the seed, so a run with the same options repeats
// exactly.
package town
