package node

import (
	"encoding/json"
)

// AlertTopic is the MQTT topic on which a node publishes every alert it
// accepts, as the JSON of api.Alert, so that sirens, displays and phones
// that speak MQTT hear alerts without polling the API.
const AlertTopic = "yui/alerts"

// publishAlertsOverMQTT starts handing every alert the node accepts to
// its MQTT subscribers of AlertTopic, until the alert service closes.
func (n *Node) publishAlertsOverMQTT() {
	s := n.alerts.Load()
	if s == nil || n.mqtt == nil {
		return
	}
	go func() {
		for {
			ch, stop := s.watch()
			for a := range ch {
				b, err := json.Marshal(apiAlert(a))
				if err != nil {
					n.log.Error("encoding an alert for MQTT failed", "alert", a.ID, "err", err)
					continue
				}
				n.mqtt.Publish(AlertTopic, b)
			}
			stop()

			// The service closes a watch that falls behind, and all of
			// them when it stops; only the second ends the publishing.
			select {
			case <-s.stop:
				return
			default:
			}
		}
	}()
}
