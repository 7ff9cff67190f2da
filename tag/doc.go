// Package tag locates radio tags carried by children and elderly people
// without letting anyone but their guardians follow them.
//
// A tag shares a 32-byte secret with its guardians. Each window of
// WindowLength it broadcasts a rotating identifier, a truncated HMAC of the
// secret and the window number, so relays, other users and radio
// observers see an identifier that changes every window and cannot be
// tied to the previous one without the secret. Relays report what they
// hear as Sightings. A guardian computes the identifiers of its tags for
// the windows in question (Resolver), picks out their sightings, and
// estimates where each tag was from the positions of the relays that
// heard it, weighting each by its RSSI through a log-distance path-loss
// model (PathLoss, Locate). Watch raises alerts when a tag leaves an area
// or falls silent. Simulation moves tags along paths through a relay
// network and produces sightings, for tests, benchmarks and demos.
//
// The package does no I/O: the node stores sightings and secrets in the
// store, and the CLI drives the simulation. docs/tags.md describes the
// wire format and the privacy argument.
package tag
