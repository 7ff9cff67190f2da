// Package mqtt is a small MQTT server: enough of MQTT 3.1.1 (OASIS
// standard, 2014) and MQTT 5.0 (OASIS standard, 2019) for sensors to
// publish readings to a Yui node and for local programs to subscribe to
// what the node publishes.
//
// The server accepts CONNECT with any client id, user name and password.
// It does no authentication, so the Handler decides what a user may do.
// It takes PUBLISH at QoS 0 and 1, and sends PUBACK only after the Handler
// has stored the message. It grants SUBSCRIBE, with the + and #
// wildcards, at QoS 0, and serves UNSUBSCRIBE, PINGREQ, DISCONNECT and
// keep-alive timeouts.
//
// Some features are not supported. CONNACK tells a 5.0 client that the
// maximum QoS is 1, and a 3.1.1 client that sends QoS 2 is disconnected.
// The retain flag is ignored: a retained message is handled like any
// other and not kept for later subscribers. Will messages are read and
// dropped. Topic aliases and AUTH are not supported either.
//
// NOTE: every session starts clean and CONNACK reports no session
// present. A 5.0 client learns that its session expires at once, but a
// 3.1.1 client that asks for a persistent session (CleanSession 0) gets
// none, which 3.1.1 does not allow. QoS 1 messages it has not seen
// acknowledged are still resent, by the client, after a reconnect.
//
// Every packet is bounded by Limits.MaxPacketSize before it is read, and
// every decoder checks lengths against the bytes it holds. Whatever its
// input, a connection holds the packet being read and at most 1 MiB of
// messages (plus the packet that crossed that mark) for the Handler.
package mqtt
