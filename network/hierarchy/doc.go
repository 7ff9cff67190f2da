// Package hierarchy is the two-tier overlay: nodes of one broadcast domain
// form a group, and a few elected representatives per group alone take part
// in the global Kademlia DHT. A flag (Config.Mode) switches a node to flat
// Kademlia instead, so both modes run through one type and can be compared
// on one network.
//
// # Driving a Machine
//
// A Machine is a deterministic state machine like kademlia.Machine, and is
// driven the same way: the caller feeds it the current time, incoming
// requests, responses and failures, calls Tick when NextDeadline has
// passed, and drains Outbox and Events. It starts no goroutines and uses
// no socket, clock or random source of its own, so given the same inputs and
// seed it produces the same outputs. AddNeighbour reports a node of the
// same broadcast domain (a LAN beacon), AddContact one outside it (a
// --bootstrap address). A Machine is not safe for concurrent use.
//
// In Flat mode every call passes through to a kademlia.Machine, and
// AddNeighbour is AddContact.
//
// # Groups
//
// Every node keeps a record of itself: its contact, its Score, whether it
// is a representative, a few DHT contacts it knows (seeds), and a version
// that rises when any of these changes. Beside the version runs a
// heartbeat, the milliseconds from the version to the node's latest
// gossip round, so that the record need not change to show the node is
// alive. Once per GossipInterval (10 s by default) a node's heartbeat
// rises, and it sends a GroupSync to one live member. The GroupSync holds
// a digest of every record the node holds, each named by version and
// heartbeat in about 24 bytes. It carries in full only the records whose
// version the node took in during the last two rounds. The member merges them, keeping the higher version and
// then the higher heartbeat of each, and returns a GroupState with the
// records it holds at a higher version than the digest names, and the
// heartbeats it holds higher. A record the push missed is pulled later
// by each member whose digest names the older version, and the first
// member to see such a digest gossips next with its sender. This push-pull
// gossip carries a record to every member of a group of n in about
// log3(n) rounds, at a cost per member of one request and one response
// per round whatever the group's size. Only the digest grows, by one
// entry per member. A score that changes no term of the merit is
// published with the next version, not at once, because the daemon
// measures its score every minute. A representative replaces its seeds
// every five minutes, or sooner if one left its routing table.
//
// A member whose heartbeat has not risen for SuspectTimeout (six rounds by
// default) gets a GroupSync of its own; if that fails too, it is dead. Two
// failed requests in a row, such as a forwarded lookup and the check that
// follows it, also make a member dead, and a Leave makes it dead at once.
// Dead records stay as tombstones for ten minutes so that stale gossip
// cannot revive them; a restarted node writes versions from its wall
// clock in milliseconds and so supersedes its old records. A node that
// sees a version of its own record above its own, or a heartbeat above its
// own for its current version, writes a new version above it: the first
// comes from a run with a faster clock, the second is forged. A GroupSync
// to a member not yet verified, such as a new one, carries every record in
// full, and so does a GroupState for two members whose IDs share the
// 8-byte prefix that names them in a digest.
//
// Names learned by gossip, beacons or forwarded paths are verified with a
// GroupSync of their own before they count as members. Any node that
// answers one joins the group: membership is as open as the LAN.
//
// # Election
//
// Score.Merit folds uptime, capacity and link quality into one integer.
// Each node decides its own role from its view of the live members
// (see decide), ranking them by merit and then by ID:
//
//   - A member claims a free seat (fewer than Reps claimants) at once if it
//     is among the best members that could fill the free seats. So a
//     representative that dies or leaves is replaced as soon as its group
//     notices.
//   - A member that is the best non-representative and has Margin merit
//     over the weakest representative challenges it, and takes a seat if
//     that holds for HoldTime (5 minutes by default). A flapping node
//     restarts its uptime and its hold time each time it comes back, so it
//     causes no repeated hand-overs.
//   - A representative steps down when more than Reps nodes claim and it is
//     not among the best Reps of them; that ends a challenge and resolves
//     the extra claims of nodes that decided on different views.
//
// A new node claims no seat until it has verified the members its group's
// records name, or heard nothing for a gossip interval: a restarted node
// would otherwise take a seat from its view of an empty group.
//
// A node's claim travels in its own record, so Representatives is read off
// the records. Views differ while gossip is in flight, which can leave a
// seat empty or doubly claimed for a few rounds; once the records agree
// every node reaches the same result, and the hysteresis keeps it stable.
// A node announces a change of role to every member at once.
//
// # Representatives
//
// A representative runs a kademlia.Machine whose table it seeds with the
// group's other representatives (one LAN hop away, covering the same DHT)
// and with the seeds of every record, then bootstraps. Representatives
// publish a few contacts of their tables as seeds, so members keep fresh
// ways into the DHT and a newly elected representative joins at once,
// even if all the old ones died. Members keep their own --bootstrap
// contacts as seeds too. A node that steps down keeps serving the lookups
// it accepted, then sends Leave to its DHT contacts outside the group and
// drops its table.
//
// Lookups for keys are answered among DHT participants, that is among the
// representatives: members are not in the DHT, and no lookup returns one.
// A node outside the DHT answers Ping and FindNode with a Referral to its
// representatives; a representative's routing table counts that as a
// failed request, so the node never enters it, and verifies the named
// representatives instead. A member that receives a FindNode keeps its
// sender as a seed, since only DHT participants send one.
//
// # Lookups from members
//
// A member forwards each lookup to one of its representatives, chosen by
// the lookup's random token so that load spreads, with a Forward request
// whose path starts with the member. The representative accepts it with a
// ForwardAck, runs the iterative lookup, and sends the result back to the
// path's first node as a one-way LookupAnswer. The member adds the
// representative itself, which its own lookup leaves out, and counts the
// forward as one more hop. If the Forward fails, is refused, or the answer
// does not come within ForwardTimeout, the member tries the next
// representative. A member that gets a Forward because the sender's view
// is out of date relays it to a representative, appending itself to the
// path, and the representative learns the path's nodes.
//
// # Costs
//
// Per member a Machine holds one record per group member (about 130
// bytes, plus seeds) and a handful of requests in flight; a representative
// adds its kademlia.Machine. The package's tests measure both, and the
// maintenance traffic of both modes on the same network.
package hierarchy
