// Package message carries end-to-end encrypted messages from one user to
// another, and delivery receipts back, across links that come and go.
//
// A user is a seal.User: an Ed25519 key that signs and an X25519 key that
// messages are encrypted to. NewMessage encrypts a text to the recipient
// with HPKE and signs it as the sender; NewReceipt signs, as the
// recipient, that a message reached the recipient's node. Both are Items
// with one canonical CBOR encoding of at most wire.MaxMsgItemSize bytes,
// which Decode reads and verifies. A Location is a user's signed record
// of the node it is at.
//
// Users are found through the overlay: the nodes closest to a user's
// UserKey keep its newest Location and, when its node cannot be reached,
// hold the items addressed to it. A Machine is one node's part in this,
// as a deterministic state machine that starts no goroutines and reads no
// clock, socket or disk. To drive one:
//
//   - Call SetUser for each local user with a Location naming this node,
//     and again with a fresh one before it expires. The Machine announces
//     it to the user's custodians, which push what they hold for the user.
//   - Call Send with each Item signed on this node. The Machine looks up
//     the recipient's Location and delivers the item there, or hands it
//     to Config.Copies custodians; Status reports the outcome, and a
//     receipt moves a message to StateDelivered.
//   - Run a lookup for each key from Lookups and pass the result to
//     HandleClosest.
//   - Send each Outgoing from Outbox as a request. Pass the response to
//     HandleResponse, or report HandleFailure.
//   - Serve requests from peers with HandleRequest.
//   - Call Tick once NextDeadline has passed.
//   - Act on Events: store received items and sign receipts for messages,
//     store and delete held items, store statuses. Restore, RestoreHeld
//     and RestoreReceived load them back after a restart.
//
// A custodian keeps at most Config.Quota items for others, in all and per
// sender, and rejects more with wire.MsgFull and a text naming the limit,
// which reaches the sender as StateRejected. Items whose signature does not
// verify are dropped and counted.
package message
