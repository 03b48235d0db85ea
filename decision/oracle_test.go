package decision_test

import (
	"maps"
	"sync"
	"testing"

	optclient "github.com/optimizely/go-sdk/v2/pkg/client"
	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"
	optdecision "github.com/optimizely/go-sdk/v2/pkg/decision"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"

	"github.com/stickybucket/stickybucket/internal/officialsdk"
)

// The oracle is the official Go SDK v2.0.0 run fully offline
// (internal/officialsdk).
//
// Experiments are decided with GetVariation: unlike Activate it sends no
// impression, and it goes through the same composite experiment service
// (whitelist, then the persisting service: saved profile, then audience,
// group and bucketing, then save).
type oracle struct {
	c *optclient.OptimizelyClient
}

// newOracle builds an official client for datafile, with profiles as its
// user profile service unless profiles is nil. The client is closed when
// the test ends.
func newOracle(tb testing.TB, datafile []byte, profiles *officialProfiles) *oracle {
	tb.Helper()
	if profiles == nil {
		// A nil *officialProfiles in the interface would not be nil.
		return &oracle{c: officialsdk.Client(tb, datafile, nil)}
	}
	return &oracle{c: officialsdk.Client(tb, datafile, profiles)}
}

// experiment returns the variation key the official SDK assigns ("" for
// none).
func (o *oracle) experiment(u testUser, key string) string {
	v, _ := o.c.GetVariation(key, optentities.UserContext{ID: u.ID, Attributes: u.Attrs})
	return v
}

func officialOptions(o decideOpts) []optdecide.OptimizelyDecideOptions {
	opts := []optdecide.OptimizelyDecideOptions{optdecide.DisableDecisionEvent}
	if o.ignoreUPS {
		opts = append(opts, optdecide.IgnoreUserProfileService)
	}
	if o.excludeVariables {
		opts = append(opts, optdecide.ExcludeVariables)
	}
	if o.enabledOnly {
		opts = append(opts, optdecide.EnabledFlagsOnly)
	}
	if o.includeReasons {
		opts = append(opts, optdecide.IncludeReasons)
	}
	return opts
}

// userContext is the SDK's user context for u with opts' forced
// decisions set, as Agent sets a decide body's.
func (o *oracle) userContext(u testUser, opts decideOpts) *optclient.OptimizelyUserContext {
	uc := o.c.CreateUserContext(u.ID, u.Attrs)
	for _, fd := range opts.forced {
		uc.SetForcedDecision(optdecision.OptimizelyDecisionContext{FlagKey: fd.FlagKey, RuleKey: fd.RuleKey},
			optdecision.OptimizelyForcedDecision{VariationKey: fd.VariationKey})
	}
	return &uc
}

// decide, decideForKeys and decideAll return the SDK's decisions and,
// apart, their reasons.
func (o *oracle) decide(u testUser, flagKey string, opts decideOpts) (flagResult, []string) {
	d := o.userContext(u, opts).Decide(flagKey, officialOptions(opts))
	return fromOfficial(d), d.Reasons
}

func (o *oracle) decideForKeys(u testUser, keys []string, opts decideOpts) (map[string]flagResult, map[string][]string) {
	return fromOfficialMap(o.userContext(u, opts).DecideForKeys(keys, officialOptions(opts)))
}

func (o *oracle) decideAll(u testUser, opts decideOpts) (map[string]flagResult, map[string][]string) {
	return fromOfficialMap(o.userContext(u, opts).DecideAll(officialOptions(opts)))
}

func fromOfficial(d optclient.OptimizelyDecision) flagResult {
	r := flagResult{Enabled: d.Enabled, VariationKey: d.VariationKey, RuleKey: d.RuleKey}
	if d.Variables != nil {
		r.Variables = normalizeVariables(d.Variables.ToMap())
	}
	return r
}

func fromOfficialMap(ds map[string]optclient.OptimizelyDecision) (map[string]flagResult, map[string][]string) {
	out := make(map[string]flagResult, len(ds))
	reasons := make(map[string][]string, len(ds))
	for k, d := range ds {
		out[k], reasons[k] = fromOfficial(d), d.Reasons
	}
	return out, reasons
}

// officialProfiles is the official SDK's UserProfileService backed by a map.
// The SDK saves whole profiles (what Lookup returned plus the new entry), so
// Save replaces; Lookup hands out a copy because the SDK writes into the map
// it gets back.
type officialProfiles struct {
	mu      sync.Mutex
	m       map[string]map[string]string // user ID → experiment ID → variation ID
	lookups int
	saves   int
}

func newOfficialProfiles() *officialProfiles {
	return &officialProfiles{m: map[string]map[string]string{}}
}

func (s *officialProfiles) Lookup(userID string) optdecision.UserProfile {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	p := optdecision.UserProfile{ID: userID}
	if saved, ok := s.m[userID]; ok {
		p.ExperimentBucketMap = make(map[optdecision.UserDecisionKey]string, len(saved))
		for exp, v := range saved {
			p.ExperimentBucketMap[optdecision.NewUserDecisionKey(exp)] = v
		}
	}
	return p
}

func (s *officialProfiles) Save(p optdecision.UserProfile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	saved := make(map[string]string, len(p.ExperimentBucketMap))
	for k, v := range p.ExperimentBucketMap {
		if k.Field == "variation_id" {
			saved[k.ExperimentID] = v
		}
	}
	s.m[p.ID] = saved
}

func (s *officialProfiles) snapshot(userID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m[userID])
}

func (s *officialProfiles) counts() (lookups, saves int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups, s.saves
}
