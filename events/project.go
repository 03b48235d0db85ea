package events

import (
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Project is what events need of one datafile: the batch's header fields,
// whether rollout and empty decisions are sent, and the IDs of the
// attributes and events the datafile declares. It is immutable and safe
// for concurrent use.
type Project struct {
	accountID, projectID, revision string
	anonymizeIP                    bool
	// botFiltering is sent as $opt_bot_filtering when botFilteringSet.
	botFiltering, botFilteringSet bool
	sendFlagDecisions             bool
	attributes                    map[string]string // key → ID
	events                        map[string]string // key → ID
}

// rawProject is the part of a datafile ParseProject reads; everything else
// is skipped.
type rawProject struct {
	AccountID         string        `json:"accountId"`
	ProjectID         string        `json:"projectId"`
	Revision          string        `json:"revision"`
	AnonymizeIP       bool          `json:"anonymizeIP"`
	BotFiltering      *bool         `json:"botFiltering"`
	SendFlagDecisions bool          `json:"sendFlagDecisions"`
	Attributes        []rawIDAndKey `json:"attributes"`
	Events            []rawIDAndKey `json:"events"`
}

type rawIDAndKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// parseOptions read a datafile as the decision package and encoding/json
// (so the SDKs) do: names in any case, the last of repeated names.
var parseOptions = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsontext.AllowDuplicateNames(true))

// ParseProject reads what events need of a datafile. The datafile is
// expected to have been checked by the decision package first (size,
// UTF-8); the error says which field has the wrong type. Of attributes or
// events sharing a key, the last wins, as in the SDKs.
func ParseProject(datafile []byte) (*Project, error) {
	var r rawProject
	if err := jsonv2.Unmarshal(datafile, &r, parseOptions); err != nil {
		return nil, fmt.Errorf("events: datafile: %w", err)
	}
	p := &Project{
		accountID:         r.AccountID,
		projectID:         r.ProjectID,
		revision:          r.Revision,
		anonymizeIP:       r.AnonymizeIP,
		sendFlagDecisions: r.SendFlagDecisions,
		attributes:        make(map[string]string, len(r.Attributes)),
		events:            make(map[string]string, len(r.Events)),
	}
	if r.BotFiltering != nil {
		p.botFiltering, p.botFilteringSet = *r.BotFiltering, true
	}
	for _, a := range r.Attributes {
		p.attributes[a.Key] = a.ID
	}
	for _, e := range r.Events {
		p.events[e.Key] = e.ID
	}
	return p, nil
}

// AccountID, ProjectID and Revision are the datafile's accountId,
// projectId and revision.
func (p *Project) AccountID() string { return p.accountID }
func (p *Project) ProjectID() string { return p.projectID }
func (p *Project) Revision() string  { return p.revision }

// SendFlagDecisions is the datafile's sendFlagDecisions: rollout decisions
// and decisions that served no variation are sent as impressions too.
func (p *Project) SendFlagDecisions() bool { return p.sendFlagDecisions }

// EventID returns the ID of the event keyed key, and whether the datafile
// declares it.
func (p *Project) EventID(key string) (string, bool) {
	id, ok := p.events[key]
	return id, ok
}

// wantsImpression applies the SDKs' rule: a rollout's decision, or one
// that served no variation, is sent only with sendFlagDecisions.
func (p *Project) wantsImpression(d *Decision) bool {
	return p.sendFlagDecisions || (d.RuleType != RuleRollout && d.VariationID != "")
}

// header is what a batch's events share: events of different headers are
// never batched together.
type header struct {
	accountID, projectID, revision string
	anonymizeIP                    bool
}

func (p *Project) header() header {
	return header{accountID: p.accountID, projectID: p.projectID, revision: p.revision, anonymizeIP: p.anonymizeIP}
}
