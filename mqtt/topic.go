package mqtt

import (
	"fmt"
	"strings"
)

// maxTopicLevels bounds the levels of a topic filter, so that matching
// one message against every subscription stays cheap.
const maxTopicLevels = 32

// validateTopicName checks a topic a client publishes to: non-empty and
// without wildcards. The decoder has already checked UTF-8 and U+0000.
func validateTopicName(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty topic name", ErrProtocol)
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("%w: topic name %q contains a wildcard", ErrProtocol, topic)
	}
	return nil
}

// validateFilter checks a topic filter: "+" fills a whole level, "#" is
// the whole last level, and shared subscriptions ($share/...) are not
// supported.
func validateFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("empty topic filter")
	}
	if strings.HasPrefix(filter, "$share/") {
		return fmt.Errorf("topic filter %q: shared subscriptions are not supported", filter)
	}
	levels := strings.Split(filter, "/")
	if len(levels) > maxTopicLevels {
		return fmt.Errorf("topic filter %q has %d levels, limit %d", filter, len(levels), maxTopicLevels)
	}
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("topic filter %q: # must be the last level", filter)
		case l != "+" && l != "#" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("topic filter %q: a wildcard must fill a whole level", filter)
		}
	}
	return nil
}

// matchTopic reports whether a valid topic filter matches a topic name.
// Wildcards at the first level do not match topics starting with "$".
func matchTopic(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, fRest, fMore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, tRest, tMore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fMore || !tMore {
			// "a/#" also matches "a", the parent level.
			return fMore == tMore || fMore && fRest == "#"
		}
		filter, topic = fRest, tRest
	}
}
