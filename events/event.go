package events

// The rule types of an impression's metadata, as the SDKs name them.
const (
	RuleFeatureTest = "feature-test" // one of a flag's experiments
	RuleRollout     = "rollout"      // a flag's rollout rule, or no variation at all
	RuleExperiment  = "experiment"   // an experiment activated by key (Agent's /v1/activate)
)

// impressionKey is the key of every impression event.
const impressionKey = "campaign_activated"

// User is who an event is about: the visitor.
type User struct {
	ID string
	// Attributes are the user's attributes as the decision received them;
	// only those the datafile declares (or starting with $opt_) with a
	// valid value are sent. The map is read (encoded) before Impression
	// or Conversion returns, and not kept.
	Attributes map[string]any
}

// Decision is what an impression says of one decision.
type Decision struct {
	// CampaignID is the layerId of the experiment or rule, ExperimentID
	// its ID, VariationID the variation's; "" when no variation was served.
	CampaignID, ExperimentID, VariationID string
	// FlagKey is the flag decided ("" for an experiment activated by key),
	// RuleKey the experiment or rule, VariationKey the variation.
	FlagKey, RuleKey, VariationKey string
	// RuleType is RuleFeatureTest, RuleRollout or RuleExperiment; a
	// decision that served no variation is RuleRollout, as in the SDKs.
	RuleType string
	// Enabled is whether the decision enabled the flag.
	Enabled bool
}

// item is one event as Impression or Conversion are given it; it is
// encoded as it is queued, and not kept.
type item struct {
	project    *Project
	visitorID  string
	attributes map[string]any
	timestamp  int64 // milliseconds since the epoch
	impression bool
	decision   Decision
	// A conversion's event, and its tags as given.
	eventID, eventKey string
	tags              map[string]any
}

// Impression queues the impression of d for u on proj's datafile, unless
// the SDKs would send none: a rollout's decision, or one that served no
// variation, is sent only when the datafile's sendFlagDecisions is true.
// It reports whether the event was queued (false also when the queue is
// full, counted, or p is nil).
func (p *Processor) Impression(proj *Project, u User, d Decision) bool {
	if p == nil || proj == nil || !proj.wantsImpression(&d) {
		return false
	}
	return p.enqueue(&item{
		project: proj, visitorID: u.ID, attributes: u.Attributes,
		timestamp: p.clock.Now().UnixMilli(), impression: true, decision: d,
	})
}

// Conversion queues the conversion of the event keyed eventKey for u, with
// tags (encoded before it returns, and not kept). It reports whether the
// event was queued: false for a key proj's datafile does not declare, tags
// JSON cannot hold or a full queue (both counted), or a nil p.
func (p *Processor) Conversion(proj *Project, u User, eventKey string, tags map[string]any) bool {
	if p == nil || proj == nil {
		return false
	}
	id, ok := proj.EventID(eventKey)
	if !ok {
		return false
	}
	return p.enqueue(&item{
		project: proj, visitorID: u.ID, attributes: u.Attributes,
		timestamp: p.clock.Now().UnixMilli(), eventID: id, eventKey: eventKey, tags: tags,
	})
}
