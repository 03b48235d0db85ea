package events

import (
	"slices"
	"strings"
)

// SDKConversion is a conversion as the official Go SDK models it (its
// event.ConversionEvent): the conversionEvent of the SDK's track
// notifications, which Optimizely Agent streams on
// /v1/notifications/event-stream. Its JSON is the SDK's, field for field
// (Attributes has no JSON name there either).
type SDKConversion struct {
	EntityID   string `json:"entity_id"`
	Key        string `json:"key"`
	Attributes []SDKAttribute
	Tags       map[string]any `json:"tags,omitempty"`
	Revenue    *int64         `json:"revenue,omitempty"`
	Value      *float64       `json:"value,omitempty"`
}

// SDKAttribute is one attribute of an SDKConversion.
type SDKAttribute struct {
	Value    any    `json:"value"`
	Key      string `json:"key"`
	Type     string `json:"type"`
	EntityID string `json:"entity_id"`
}

// SDKConversion returns the conversion of the event keyed eventKey for u,
// with tags, as the official Go SDK builds it for its track notification:
// the attributes an event sends (those the datafile declares, with its ID,
// or whose key starts with $opt_, with a valid value; sorted by key where
// the SDK follows its map's order), then $opt_bot_filtering with the
// datafile's botFiltering (false when it has none: unlike the payload, the
// SDK's conversion always carries it); revenue and value read from the
// tags as the payload reads them. ok is false for a key the datafile does
// not declare (the SDK then tracks nothing and notifies nothing).
func (p *Project) SDKConversion(u User, eventKey string, tags map[string]any) (c SDKConversion, ok bool) {
	id, ok := p.events[eventKey]
	if !ok {
		return SDKConversion{}, false
	}
	c = SDKConversion{EntityID: id, Key: eventKey, Tags: tags, Attributes: []SDKAttribute{}}
	keys := make([]string, 0, len(u.Attributes))
	for k, v := range u.Attributes {
		if validAttribute(v) && (p.attributes[k] != "" || strings.HasPrefix(k, optPrefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		aid := p.attributes[k]
		if aid == "" {
			aid = k
		}
		c.Attributes = append(c.Attributes, SDKAttribute{Value: u.Attributes[k], Key: k, Type: attributeType, EntityID: aid})
	}
	c.Attributes = append(c.Attributes, SDKAttribute{Value: p.botFiltering, Key: botFilteringKey, Type: attributeType, EntityID: botFilteringKey})
	if r, ok := revenue(tags); ok {
		c.Revenue = &r
	}
	if v, ok := value(tags); ok {
		c.Value = &v
	}
	return c, true
}
