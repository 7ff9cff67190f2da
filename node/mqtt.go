package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/mqtt"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
)

// DefaultMQTTAddr is the default address of a node's MQTT listener: the
// standard MQTT port on loopback, for sensors' gateways on the same host.
const DefaultMQTTAddr = "127.0.0.1:1883"

// MQTTOff as Config.MQTT turns the MQTT listener off.
const MQTTOff = "off"

// TopicPrefix starts the topic of every reading published to a node:
// yui/NAMESPACE/SENSOR, where SENSOR is the default source id of the
// readings and may contain further levels.
const TopicPrefix = "yui/"

// startMQTT starts the MQTT listener. A taken port only costs the node
// its MQTT ingest, so that one busy port does not stop a node.
func (n *Node) startMQTT() error {
	addr := n.cfg.MQTT
	if addr == MQTTOff {
		return nil
	}
	if addr == "" {
		addr = DefaultMQTTAddr
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		n.log.Warn("MQTT port taken, running without MQTT ingest; pass --mqtt with a free address or --mqtt off",
			"addr", addr, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: MQTT address %s: %w (pass another with --mqtt, or --mqtt off)", addr, err)
	}

	n.mqtt = mqtt.NewServer(mqtt.Config{Handler: mqttHandler{n}, Logger: n.log})
	n.mqttAddr = ln.Addr().String()
	go n.mqtt.Serve(ln)
	n.log.Info("MQTT listener started", "addr", n.mqttAddr)
	return nil
}

func (n *Node) closeMQTT() {
	if n.mqtt != nil {
		n.mqtt.Close()
	}
}

// MQTTAddr returns the MQTT listener's address, or "" when the node runs
// without one.
func (n *Node) MQTTAddr() string { return n.mqttAddr }

// PublishMQTT sends a message to the node's MQTT subscribers of a
// matching topic filter and returns how many it reached.
func (n *Node) PublishMQTT(topic string, payload []byte) int {
	if n.mqtt == nil {
		return 0
	}
	return n.mqtt.Publish(topic, payload)
}

// mqttHandler turns published messages into readings for the node's
// sensor sink. The MQTT user name selects the node's local user, like the
// API's X-Yui-User header; without one the default user writes.
type mqttHandler struct{ n *Node }

func (h mqttHandler) Store(ctx context.Context, c mqtt.Client, msgs []mqtt.Message) ([]error, error) {
	user := c.Username
	if user == "" {
		user = api.DefaultUser
	}
	userErr := api.ValidateUserName(user)

	rejected := make([]error, len(msgs))
	batches := map[sinkTarget][]sensor.Reading{}
	// from holds, per target, the index in msgs of each reading.
	from := map[sinkTarget][]int{}
	var order []sinkTarget
	arrived := time.Now()
	for i, m := range msgs {
		if userErr != nil {
			rejected[i] = fmt.Errorf("MQTT user name: %w", userErr)
			continue
		}
		ns, r, err := readingOf(m, arrived)
		if err != nil {
			rejected[i] = err
			continue
		}
		t := sinkTarget{user, ns}
		if _, ok := batches[t]; !ok {
			order = append(order, t)
		}
		batches[t] = append(batches[t], r)
		from[t] = append(from[t], i)
	}

	for i, t := range order {
		err := h.n.commit.write(ctx, t, batches[t])
		if errors.Is(err, store.ErrForbidden) || errors.Is(err, store.ErrUnknownUser) {
			// Resending cannot help, so the messages are rejected, not
			// left unacknowledged.
			for j, m := range msgs {
				if rejected[j] == nil && namespaceOf(m.Topic) == t.namespace {
					rejected[j] = fmt.Errorf("%w: user %q may not write namespace %q: %w", mqtt.ErrNotAuthorized, t.user, t.namespace, err)
				}
			}
			continue
		}
		if errors.Is(err, sensor.ErrInvalid) {
			// One reading the namespace cannot take, such as a value that
			// a sealed namespace's scale does not hold, fails the batch.
			// Resending it cannot help, so each reading is written alone
			// and only those that fail so are rejected.
			err = h.writeEach(ctx, t, batches[t], from[t], rejected)
			if err == nil {
				continue
			}
		}
		if err != nil {
			h.n.log.Warn("MQTT readings not stored, client will resend", "client", c.ID,
				"user", t.user, "namespace", t.namespace, "readings", len(batches[t]), "err", err)
			for _, failed := range order[i:] {
				h.n.ingest.add("mqtt", "failed", len(batches[failed]))
			}
			return nil, err
		}
		h.n.ingest.add("mqtt", "stored", len(batches[t]))
	}
	h.n.ingest.add("mqtt", "rejected", countErrors(rejected))
	return rejected, nil
}

// namespaceOf returns the namespace a topic yui/NAMESPACE/SENSOR names.
func namespaceOf(topic string) string {
	rest, _ := strings.CutPrefix(topic, TopicPrefix)
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

// readingOf decodes the reading of one message published to
// yui/NAMESPACE/SENSOR.
func readingOf(m mqtt.Message, arrived time.Time) (string, sensor.Reading, error) {
	rest, ok := strings.CutPrefix(m.Topic, TopicPrefix)
	ns, source, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || source == "" {
		return "", sensor.Reading{}, fmt.Errorf("%w: %q: want %sNAMESPACE/SENSOR", mqtt.ErrTopicRejected, m.Topic, TopicPrefix)
	}
	if err := seal.ValidateNamespace(ns); err != nil {
		return "", sensor.Reading{}, fmt.Errorf("%w: %q: %w", mqtt.ErrTopicRejected, m.Topic, err)
	}
	if err := sensor.ValidateSource(source); err != nil {
		return "", sensor.Reading{}, fmt.Errorf("%w: %q: %w", mqtt.ErrTopicRejected, m.Topic, err)
	}
	r, err := sensor.DecodeJSON(m.Payload, sensor.JSONOptions{Source: source, Time: arrived, RequireFields: true, RejectEpochSeconds: true})
	if err != nil {
		return "", sensor.Reading{}, fmt.Errorf("payload on topic %q: %w", m.Topic, err)
	}
	return ns, r, nil
}

func countErrors(errs []error) int {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return n
}

// writeEach writes the readings of t one by one, and marks in rejected,
// at the message index from gives, each one the namespace rejects as
// invalid; Store counts those. Any other failure ends it, and the client
// resends.
func (h mqttHandler) writeEach(ctx context.Context, t sinkTarget, readings []sensor.Reading, from []int, rejected []error) error {
	for k, r := range readings {
		err := h.n.commit.write(ctx, t, []sensor.Reading{r})
		switch {
		case errors.Is(err, sensor.ErrInvalid):
			rejected[from[k]] = err
		case err != nil:
			return err
		default:
			h.n.ingest.add("mqtt", "stored", 1)
		}
	}
	return nil
}
