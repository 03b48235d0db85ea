package server

import (
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/events"
)

// impressions queues the impressions of one request's decisions; the
// zero value queues none (events off, no project, or the request said
// not to).
type impressions struct {
	p    *events.Processor
	proj *events.Project
	user events.User
}

// impressionsFor returns what queues df's impressions for user, unless
// off or the service sends no events.
func (a *api) impressionsFor(df Datafile, user decision.User, off bool) impressions {
	if off || a.opts.Events == nil || df.Events == nil {
		return impressions{}
	}
	return impressions{p: a.opts.Events, proj: df.Events, user: events.User{ID: user.ID, Attributes: user.Attributes}}
}

func (im *impressions) on() bool { return im.p != nil }

// flag queues the impression of a flag decision as the SDKs' decide
// does: a feature test's always, a rollout's or one without variation
// only when the datafile's sendFlagDecisions says so (events decides).
// The caller leaves out keys the datafile does not have. It reports
// whether the impression was queued (the SDKs' decisionEventDispatched).
func (im *impressions) flag(d *decision.FlagDecision) bool {
	if im.p == nil {
		return false
	}
	ruleType := d.Source
	if ruleType == "" {
		ruleType = events.RuleRollout // no variation: the SDKs' rule type
	}
	return im.p.Impression(im.proj, im.user, events.Decision{
		CampaignID: d.LayerID, ExperimentID: d.ExperimentID, VariationID: d.VariationID,
		FlagKey: d.FlagKey, RuleKey: d.RuleKey, VariationKey: d.VariationKey,
		RuleType: ruleType, Enabled: d.Enabled,
	})
}

// experiment queues the impression of an experiment activated by key,
// when it served a variation, as the SDKs' activate does.
func (im *impressions) experiment(d *decision.ExperimentDecision) {
	if im.p == nil || d.VariationID == "" {
		return
	}
	im.p.Impression(im.proj, im.user, events.Decision{
		CampaignID: d.LayerID, ExperimentID: d.ExperimentID, VariationID: d.VariationID,
		RuleKey: d.ExperimentKey, VariationKey: d.VariationKey, RuleType: events.RuleExperiment, Enabled: true,
	})
}
