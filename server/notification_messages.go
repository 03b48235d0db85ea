package server

import (
	"encoding/json"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/events"
)

// The messages of /v1/notifications/event-stream are the official Go SDK's
// notifications as Agent writes them: encoding/json of the SDK's
// notification structs, which carry no JSON names (so "Type",
// "UserContext", "DecisionInfo"…), with the decision's details in a map
// (so sorted keys). They are built with encoding/json here too, so that
// escaping and number formatting are Agent's; only when someone listens.

// sdkUserContext is the SDK's entities.UserContext: the user as the
// request sent it (attributes null when it sent none, but for decide's,
// which the SDK's user context makes {}; no ODP segments).
type sdkUserContext struct {
	ID                string
	Attributes        map[string]any
	QualifiedSegments []string
}

// sdkDecisionNotification is the SDK's notification.DecisionNotification.
type sdkDecisionNotification struct {
	Type         string
	UserContext  sdkUserContext
	DecisionInfo map[string]any
}

// sdkTrackNotification is the SDK's notification.TrackNotification.
type sdkTrackNotification struct {
	EventKey        string
	UserContext     sdkUserContext
	EventTags       map[string]any
	ConversionEvent events.SDKConversion
}

// The SDK's decision notification types stickybucket sends.
const (
	decisionTypeFlag                = "flag"                  // decide
	decisionTypeABTest              = "ab-test"               // activate, an experiment
	decisionTypeFeatureTest         = "feature-test"          // activate, a flag's experiment
	decisionTypeAllFeatureVariables = "all-feature-variables" // activate, a feature
)

// notifyFlag publishes the "flag" notification of a decide, as the SDK's
// decide sends it for every flag it decides (filtered out of the answer
// by ENABLED_FLAGS_ONLY or not): dispatched says whether its impression
// was queued. The SDK Agent links (v2.3.1) adds experimentId and
// variationId to the older SDKs' fields.
func (a *api) notifyFlag(sdkKey string, user *decision.User, d *decision.FlagDecision, dispatched bool) {
	vars := d.Variables.Map()
	if vars == nil {
		vars = map[string]any{}
	}
	reasons := d.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	attrs := user.Attributes
	if attrs == nil {
		attrs = map[string]any{} // decide's user context has a map, empty or not
	}
	a.publishJSON(sdkKey, maskDecision, sdkDecisionNotification{
		Type:        decisionTypeFlag,
		UserContext: sdkUserContext{ID: user.ID, Attributes: attrs},
		DecisionInfo: map[string]any{
			"flagKey":                 d.FlagKey,
			"enabled":                 d.Enabled,
			"variables":               vars,
			"variationKey":            d.VariationKey,
			"ruleKey":                 d.RuleKey,
			"reasons":                 reasons,
			"decisionEventDispatched": dispatched,
			"experimentId":            d.ExperimentID,
			"variationId":             d.VariationID,
		},
	})
}

// notifyExperiment publishes the notification of an experiment's
// activation: "ab-test", or "feature-test" for a flag's experiment, with
// the variation's key only when one was served.
func (a *api) notifyExperiment(sdkKey string, user *decision.User, d *decision.ExperimentDecision, featureTest bool) {
	info := map[string]any{"experimentKey": d.ExperimentKey}
	if d.VariationKey != "" {
		info["variationKey"] = d.VariationKey
	}
	typ := decisionTypeABTest
	if featureTest {
		typ = decisionTypeFeatureTest
	}
	a.publishJSON(sdkKey, maskDecision, sdkDecisionNotification{
		Type:         typ,
		UserContext:  sdkUserContext{ID: user.ID, Attributes: user.Attributes},
		DecisionInfo: info,
	})
}

// notifyFeature publishes the "all-feature-variables" notification of a
// feature's activation: the feature, whether it is enabled, the source
// of its decision ("feature-test" or "rollout": the SDK tries the rollout
// last, so a feature nothing served names it too), the
// experiment and variation of a feature test, and every variable's value.
func (a *api) notifyFeature(sdkKey string, user *decision.User, d *decision.FlagDecision) {
	sourceInfo := map[string]string{}
	if d.Source == decision.SourceFeatureTest {
		sourceInfo["experimentKey"] = d.RuleKey
		sourceInfo["variationKey"] = d.VariationKey
	}
	source := d.Source
	if source == "" {
		source = decision.SourceRollout
	}
	vars := d.Variables.Map()
	if vars == nil {
		vars = map[string]any{}
	}
	a.publishJSON(sdkKey, maskDecision, sdkDecisionNotification{
		Type:        decisionTypeAllFeatureVariables,
		UserContext: sdkUserContext{ID: user.ID, Attributes: user.Attributes},
		DecisionInfo: map[string]any{"feature": map[string]any{
			"featureKey":     d.FlagKey,
			"featureEnabled": d.Enabled,
			"source":         source,
			"sourceInfo":     sourceInfo,
			"variableValues": vars,
		}},
	})
}

// notifyTrack publishes the track notification of a conversion.
func (a *api) notifyTrack(sdkKey string, proj *events.Project, user events.User, eventKey string, tags map[string]any) {
	conv, ok := proj.SDKConversion(user, eventKey, tags)
	if !ok {
		return
	}
	a.publishJSON(sdkKey, maskTrack, sdkTrackNotification{
		EventKey:        eventKey,
		UserContext:     sdkUserContext{ID: user.ID, Attributes: user.Attributes},
		EventTags:       tags,
		ConversionEvent: conv,
	})
}

// publishJSON encodes v and publishes it. A value encoding/json cannot
// write (none of these can fail: the request's JSON was decoded into
// them) is left out.
func (a *api) publishJSON(sdkKey string, t notifyMask, v any) {
	msg, err := json.Marshal(v)
	if err != nil {
		a.log.Warn("notification not encoded", "err", err)
		return
	}
	a.opts.Notifications.publish(sdkKey, t, msg)
}
