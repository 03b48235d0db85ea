package decision

import (
	"context"
	"errors"
	"fmt"

	"github.com/stickybucket/stickybucket/ups"
)

// ErrOverridesDisabled is returned by SetOverride and RemoveOverride on a
// client without Options.Overrides.
var ErrOverridesDisabled = errors.New("overrides are disabled")

// Override is what SetOverride and RemoveOverride did, in the words of
// Agent's POST /v1/override.
type Override struct {
	UserID, ExperimentKey, VariationKey string
	// PrevVariationKey is the override replaced or removed; "" if none.
	PrevVariationKey string
	// Messages are Agent's: "experimentKey not found in configuration",
	// "variationKey not found in configuration", "updating previous
	// override", "removing previous override", "no pre-existing override".
	// Nil when there is nothing to say.
	Messages []string
}

// OverridesEnabled reports whether the client has an override store.
func (c *Client) OverridesEnabled() bool { return c.overrides != nil }

// SetOverride makes experimentKey's decisions for userID serve
// variationKey, on every client sharing the store, for the store's TTL.
// As Agent, it keeps an override of an experiment or variation the
// datafile does not have (a later datafile may have them; until then
// decisions ignore it) and says so in Messages. The error is a store
// failure, invalid arguments (ups.ErrInvalidProfile) or
// ErrOverridesDisabled.
func (c *Client) SetOverride(ctx context.Context, userID, experimentKey, variationKey string) (Override, error) {
	o := Override{UserID: userID, ExperimentKey: experimentKey, VariationKey: variationKey}
	if c.overrides == nil {
		return o, ErrOverridesDisabled
	}
	if e := c.df.firstExperiment(experimentKey); e == nil {
		o.Messages = append(o.Messages, "experimentKey not found in configuration")
	} else if e.variationByKey(variationKey) == nil {
		o.Messages = append(o.Messages, "variationKey not found in configuration")
	}
	prev, ok, err := c.overrides.SetOverride(ctx, c.overrideKey(userID, experimentKey), variationKey)
	if err != nil {
		return Override{}, fmt.Errorf("decision: set override: %w", err)
	}
	if ok {
		o.PrevVariationKey = prev
		o.Messages = append(o.Messages, "updating previous override")
	}
	return o, nil
}

// RemoveOverride removes userID's override of experimentKey on every
// client sharing the store: decisions serve what they served before it
// (a saved assignment included).
func (c *Client) RemoveOverride(ctx context.Context, userID, experimentKey string) (Override, error) {
	o := Override{UserID: userID, ExperimentKey: experimentKey}
	if c.overrides == nil {
		return o, ErrOverridesDisabled
	}
	prev, ok, err := c.overrides.RemoveOverride(ctx, c.overrideKey(userID, experimentKey))
	if err != nil {
		return Override{}, fmt.Errorf("decision: remove override: %w", err)
	}
	if ok {
		o.PrevVariationKey = prev
		o.Messages = []string{"removing previous override"}
	} else {
		o.Messages = []string{"no pre-existing override"}
	}
	return o, nil
}

func (c *Client) overrideKey(userID, experimentKey string) ups.OverrideKey {
	return ups.OverrideKey{Scope: c.df.overrideScope, UserID: userID, ExperimentKey: experimentKey}
}

// firstExperiment returns the first experiment keyed key in datafile
// order (the one OptimizelyConfig's experimentsMap, which Agent checks an
// override against, lists), or nil.
func (d *Datafile) firstExperiment(key string) *experiment {
	if !d.ambiguousKeys[key] {
		return d.experimentByKey[key]
	}
	for _, e := range d.experiments {
		if e.key == key {
			return e
		}
	}
	return nil
}

// overridden returns e's variation the user's override names, or nil: no
// override, or one naming a variation e does not have, which the official
// Go SDK ignores without a reason. The user's overrides are read once per
// call, within the store budget; a failed read is reported and the call
// decides without them.
func (cl *call) overridden(e *experiment, rs *reasons) *variation {
	if !cl.overridesRead {
		cl.overridesRead = true
		if ups.ValidateUserID(cl.userID) == nil {
			m, err := cl.client.overrides.UserOverrides(cl.storeContext(), cl.client.df.overrideScope, cl.userID)
			if err != nil {
				rs.problem(fmt.Sprintf("Overrides could not be read (%v); deciding without them.", err))
			}
			cl.overrides = m
		}
	}
	key, ok := cl.overrides[e.key]
	if !ok {
		return nil
	}
	v := e.variationByKey(key)
	if v != nil && rs.on {
		rs.infof("Override variation %v found for user %v", key, cl.userID)
	}
	return v
}
