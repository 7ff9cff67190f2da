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
// Not supported, and answered as the standards allow: QoS 2 (a 5.0 client
// is told the maximum QoS is 1, a 3.1.1 client that sends QoS 2 is
// disconnected), retained messages (dropped, the retain flag is
// ignored), will messages (read and dropped), persistent sessions (every
// session starts clean and CONNACK says so), topic aliases, and AUTH.
//
// Every packet is bounded by Limits.MaxPacketSize before it is read, and
// every decoder checks lengths against the bytes it holds, so no input
// makes the server allocate more than one packet per connection.
package mqtt
