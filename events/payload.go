package events

import (
	"encoding/json"
	"slices"
	"strings"
)

// The JSON of Optimizely's event API, as the SDKs send it.

type batchJSON struct {
	AccountID       string            `json:"account_id"`
	ProjectID       string            `json:"project_id"`
	Revision        string            `json:"revision"`
	ClientName      string            `json:"client_name"`
	ClientVersion   string            `json:"client_version"`
	AnonymizeIP     bool              `json:"anonymize_ip"`
	EnrichDecisions bool              `json:"enrich_decisions"`
	Visitors        []json.RawMessage `json:"visitors"`
}

type visitorJSON struct {
	VisitorID  string          `json:"visitor_id"`
	Attributes []attributeJSON `json:"attributes"`
	Snapshots  []snapshotJSON  `json:"snapshots"`
}

type attributeJSON struct {
	EntityID string `json:"entity_id"`
	Key      string `json:"key"`
	Type     string `json:"type"`
	Value    any    `json:"value"`
}

type snapshotJSON struct {
	Decisions []decisionJSON `json:"decisions,omitempty"`
	Events    []eventJSON    `json:"events"`
}

type decisionJSON struct {
	CampaignID   string       `json:"campaign_id"`
	ExperimentID string       `json:"experiment_id"`
	VariationID  string       `json:"variation_id"`
	Metadata     metadataJSON `json:"metadata"`
}

type metadataJSON struct {
	FlagKey      string `json:"flag_key"`
	RuleKey      string `json:"rule_key"`
	RuleType     string `json:"rule_type"`
	VariationKey string `json:"variation_key"`
	Enabled      bool   `json:"enabled"`
}

type eventJSON struct {
	EntityID  string         `json:"entity_id"`
	Key       string         `json:"key"`
	Timestamp int64          `json:"timestamp"`
	UUID      string         `json:"uuid"`
	Revenue   *int64         `json:"revenue,omitempty"`
	Value     *float64       `json:"value,omitempty"`
	Tags      map[string]any `json:"tags,omitempty"`
}

// attributeType is the type of every visitor attribute sent.
const attributeType = "custom"

// Reserved attribute keys: those starting with optPrefix are sent even
// when the datafile does not declare them; botFilteringKey carries the
// datafile's botFiltering.
const (
	optPrefix       = "$opt_"
	botFilteringKey = "$opt_bot_filtering"
)

// encodeBatch writes the batch of items, which share h, as the event API
// takes it. An item that cannot be encoded (a tag JSON cannot hold, such
// as NaN given by a Go caller) is left out and counted in bad.
func encodeBatch(h header, client clientID, items []item, newUUID func() string) (body []byte, bad int, err error) {
	b := batchJSON{
		AccountID: h.accountID, ProjectID: h.projectID, Revision: h.revision,
		ClientName: client.name, ClientVersion: client.version,
		AnonymizeIP: h.anonymizeIP, EnrichDecisions: true,
		Visitors: make([]json.RawMessage, 0, len(items)),
	}
	for i := range items {
		v, err := json.Marshal(visitorOf(&items[i], newUUID()))
		if err != nil {
			bad++
			continue
		}
		b.Visitors = append(b.Visitors, v)
	}
	body, err = json.Marshal(&b)
	return body, bad, err
}

// clientID is what a batch says sent it.
type clientID struct{ name, version string }

// visitorOf builds one event's visitor: its attributes and one snapshot
// holding the impression's decision and event, or the conversion's event.
func visitorOf(it *item, uuid string) *visitorJSON {
	v := &visitorJSON{VisitorID: it.visitorID, Attributes: it.project.visitorAttributes(it.attributes)}
	ev := eventJSON{Timestamp: it.timestamp, UUID: uuid}
	var snap snapshotJSON
	if it.impression {
		d := &it.decision
		ev.EntityID, ev.Key = d.CampaignID, impressionKey
		snap.Decisions = []decisionJSON{{
			CampaignID: d.CampaignID, ExperimentID: d.ExperimentID, VariationID: d.VariationID,
			Metadata: metadataJSON{FlagKey: d.FlagKey, RuleKey: d.RuleKey, RuleType: d.RuleType, VariationKey: d.VariationKey, Enabled: d.Enabled},
		}}
	} else {
		ev.EntityID, ev.Key, ev.Tags = it.eventID, it.eventKey, it.tags
		if r, ok := revenue(it.tags); ok {
			ev.Revenue = &r
		}
		if f, ok := value(it.tags); ok {
			ev.Value = &f
		}
	}
	snap.Events = []eventJSON{ev}
	v.Snapshots = []snapshotJSON{snap}
	return v
}

// visitorAttributes returns the attributes sent for a user's: those the
// datafile declares (with its ID) or whose key starts with $opt_ (with the
// key as ID), with a valid value, sorted by key; then $opt_bot_filtering
// when the datafile sets botFiltering. Never nil.
func (p *Project) visitorAttributes(attrs map[string]any) []attributeJSON {
	out := make([]attributeJSON, 0, len(attrs)+1)
	for k, v := range attrs {
		if !validAttribute(v) {
			continue
		}
		id := p.attributes[k]
		if id == "" {
			if !strings.HasPrefix(k, optPrefix) {
				continue
			}
			id = k
		}
		out = append(out, attributeJSON{EntityID: id, Key: k, Type: attributeType, Value: v})
	}
	slices.SortFunc(out, func(a, b attributeJSON) int { return strings.Compare(a.Key, b.Key) })
	if p.botFilteringSet {
		out = append(out, attributeJSON{EntityID: botFilteringKey, Key: botFilteringKey, Type: attributeType, Value: p.botFiltering})
	}
	return out
}
