package events

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stickybucket/stickybucket/internal/jsonstring"
)

// The JSON of Optimizely's event API, as the SDKs send it:
//
//	{"account_id", "project_id", "revision", "client_name", "client_version",
//	 "anonymize_ip", "enrich_decisions": true, "visitors": [
//	   {"visitor_id", "attributes": [{"entity_id", "key", "type": "custom", "value"}],
//	    "snapshots": [{"decisions": [{"campaign_id", "experiment_id", "variation_id",
//	        "metadata": {"flag_key", "rule_key", "rule_type", "variation_key", "enabled"}}],
//	      "events": [{"entity_id", "key", "timestamp", "uuid", "revenue", "value", "tags"}]}]}]}
//
// An impression's snapshot has its decision and a campaign_activated
// event; a conversion's has no decisions, and revenue, value and tags
// only when there are some. It is written by hand: encoding/json costs
// several times more, on the cores that decide.

// attributeType is the type of every visitor attribute sent.
const attributeType = "custom"

// Reserved attribute keys: those starting with optPrefix are sent even
// when the datafile does not declare them; botFilteringKey carries the
// datafile's botFiltering.
const (
	optPrefix       = "$opt_"
	botFilteringKey = "$opt_bot_filtering"
)

// clientID is what a batch says sent it.
type clientID struct{ name, version string }

// appendHeader writes the start of a batch of events that share h, up to
// and including the opening of its visitors array; the batch's visitors
// follow, separated by commas, and batchEnd closes it.
func appendHeader(b []byte, h header, client clientID) []byte {
	b = append(b, `{"account_id":`...)
	b = appendString(b, h.accountID)
	b = append(b, `,"project_id":`...)
	b = appendString(b, h.projectID)
	b = append(b, `,"revision":`...)
	b = appendString(b, h.revision)
	b = append(b, `,"client_name":`...)
	b = appendString(b, client.name)
	b = append(b, `,"client_version":`...)
	b = appendString(b, client.version)
	b = append(b, `,"anonymize_ip":`...)
	b = strconv.AppendBool(b, h.anonymizeIP)
	return append(b, `,"enrich_decisions":true,"visitors":[`...)
}

// batchEnd closes a batch that appendHeader opened.
const batchEnd = "]}"

// appendVisitor writes one event's visitor: its attributes and one
// snapshot; false if a tag cannot be encoded.
func appendVisitor(b []byte, it *item, uuid []byte) ([]byte, bool) {
	b = append(b, `{"visitor_id":`...)
	b = appendString(b, it.visitorID)
	b = append(b, `,"attributes":[`...)
	b = it.project.appendAttributes(b, it.attributes)
	b = append(b, `],"snapshots":[{`...)
	if it.impression {
		d := &it.decision
		b = append(b, `"decisions":[{"campaign_id":`...)
		b = appendString(b, d.CampaignID)
		b = append(b, `,"experiment_id":`...)
		b = appendString(b, d.ExperimentID)
		b = append(b, `,"variation_id":`...)
		b = appendString(b, d.VariationID)
		b = append(b, `,"metadata":{"flag_key":`...)
		b = appendString(b, d.FlagKey)
		b = append(b, `,"rule_key":`...)
		b = appendString(b, d.RuleKey)
		b = append(b, `,"rule_type":`...)
		b = appendString(b, d.RuleType)
		b = append(b, `,"variation_key":`...)
		b = appendString(b, d.VariationKey)
		b = append(b, `,"enabled":`...)
		b = strconv.AppendBool(b, d.Enabled)
		b = append(b, `}}],`...)
	}
	b = append(b, `"events":[{"entity_id":`...)
	if it.impression {
		b = appendString(b, it.decision.CampaignID)
		b = append(b, `,"key":"`+impressionKey+`"`...)
	} else {
		b = appendString(b, it.eventID)
		b = append(b, `,"key":`...)
		b = appendString(b, it.eventKey)
	}
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, it.timestamp, 10)
	b = append(b, `,"uuid":"`...)
	b = append(b, uuid...) // hexadecimal digits and dashes: nothing to escape
	b = append(b, '"')
	if !it.impression {
		if r, ok := revenue(it.tags); ok {
			b = append(b, `,"revenue":`...)
			b = strconv.AppendInt(b, r, 10)
		}
		if v, ok := value(it.tags); ok {
			b = append(b, `,"value":`...)
			b = appendFloat(b, v, 64)
		}
		if len(it.tags) > 0 {
			tags, err := json.Marshal(it.tags)
			if err != nil {
				return b, false
			}
			b = append(b, `,"tags":`...)
			b = append(b, tags...)
		}
	}
	return append(b, "}]}]}"...), true
}

// appendAttributes writes the attributes sent for a user's: those the
// datafile declares (with its ID) or whose key starts with $opt_ (with the
// key as ID), with a valid value, sorted by key; then $opt_bot_filtering
// when the datafile sets botFiltering.
func (p *Project) appendAttributes(b []byte, attrs map[string]any) []byte {
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k, v := range attrs {
		if validAttribute(v) && (p.attributes[k] != "" || strings.HasPrefix(k, optPrefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		id := p.attributes[k]
		if id == "" {
			id = k
		}
		b = appendAttribute(b, id, k)
		b = appendValue(b, attrs[k])
		b = append(b, '}')
	}
	if p.botFilteringSet {
		if len(keys) > 0 {
			b = append(b, ',')
		}
		b = appendAttribute(b, botFilteringKey, botFilteringKey)
		b = strconv.AppendBool(b, p.botFiltering)
		b = append(b, '}')
	}
	return b
}

// appendAttribute writes an attribute up to its value.
func appendAttribute(b []byte, id, key string) []byte {
	b = append(b, `{"entity_id":`...)
	b = appendString(b, id)
	b = append(b, `,"key":`...)
	b = appendString(b, key)
	return append(b, `,"type":"`+attributeType+`","value":`...)
}

// appendValue writes a valid attribute value (see validAttribute) as
// encoding/json would.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return appendFloat(b, x, 64)
	case float32:
		return appendFloat(b, float64(x), 32)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	}
	return append(b, "null"...) // not reached: only valid values are written
}

// appendFloat writes a finite float as encoding/json does: plain digits
// from 1e-6 to 1e21, an exponent outside.
func appendFloat(b []byte, f float64, bits int) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s as a JSON string (internal/jsonstring).
func appendString(b []byte, s string) []byte { return jsonstring.Append(b, s) }
