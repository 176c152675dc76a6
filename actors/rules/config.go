package rules

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/messages"
)

// decode reads a rule's YAML settings into cfg (which holds the defaults)
// strictly: an unknown key (with the closest valid one) or a value of the
// wrong type is an error naming the key, its line in the config file and
// the value; durations take a Go duration or plain seconds.
func decode(node *yaml.Node, cfg any) error {
	_, problems := config.DecodeNode(node, cfg, "")
	return problems.Err()
}

func positive(field string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s = %s: must be a positive duration", field, d)
	}
	return nil
}

func priority(field string, p int) error {
	if p < 0 || p > 10 {
		return fmt.Errorf("%s = %d: must be 0..10", field, p)
	}
	return nil
}

// str returns ev.Data[key] as a string ("" if absent).
func str(ev *messages.Event, key string) string {
	s, _ := ev.Data[key].(string)
	return s
}

// number returns ev.Data[key] as a float64.
func number(ev *messages.Event, key string) (float64, bool) {
	switch v := ev.Data[key].(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// eventFields copies the descriptive fields of an event into intent data.
func eventFields(ev *messages.Event) messages.Object {
	o := messages.Object{{Key: "event_type", Value: ev.Type}, {Key: "source", Value: ev.Source}}
	for _, k := range []string{"unit", "path", "message", "metric"} {
		if s := str(ev, k); s != "" {
			o = append(o, messages.KV{Key: k, Value: s})
		}
	}
	return o
}

// none is the empty result.
var none []messages.Intent

func reflectName(v any) string { return fmt.Sprintf("%T", v) }
