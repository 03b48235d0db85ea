package decision_test

import (
	"maps"
	"sync"
	"testing"

	optclient "github.com/optimizely/go-sdk/v2/pkg/client"
	optconfig "github.com/optimizely/go-sdk/v2/pkg/config"
	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"
	optdecision "github.com/optimizely/go-sdk/v2/pkg/decision"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"
	optevent "github.com/optimizely/go-sdk/v2/pkg/event"
	optlogging "github.com/optimizely/go-sdk/v2/pkg/logging"
)

// The oracle is the official Go SDK v2.0.0 run fully offline:
//   - a static config manager built from the datafile bytes with no SDK key,
//     so nothing polls the CDN;
//   - an event processor that drops events, so no batch goroutine and no
//     dispatch to logx.optimizely.com (GetVariation sends none anyway, and
//     Decide is called with DISABLE_DECISION_EVENT);
//   - ODP disabled, so CreateUserContext does not send an identify event;
//   - the package-wide logger replaced by one that discards, so the SDK
//     neither writes to stdout nor pays for I/O in benchmarks.
//
// Experiments are decided with GetVariation: unlike Activate it sends no
// impression, and it goes through the same composite experiment service
// (whitelist, then the persisting service: saved profile, then audience,
// group and bucketing, then save).
type oracle struct {
	c *optclient.OptimizelyClient
}

type discardLogs struct{}

func (discardLogs) Log(optlogging.LogLevel, string, map[string]any) {}
func (discardLogs) SetLogLevel(optlogging.LogLevel)                 {}

type dropEvents struct{}

func (dropEvents) ProcessEvent(optevent.UserEvent) bool                 { return true }
func (dropEvents) OnEventDispatch(func(optevent.LogEvent)) (int, error) { return 0, nil }
func (dropEvents) RemoveOnEventDispatch(int) error                      { return nil }

var silenceOfficialSDK sync.Once

// newOracle builds an official client for datafile. The returned client is
// closed when the test ends.
func newOracle(tb testing.TB, datafile []byte, profiles *officialProfiles) *oracle {
	tb.Helper()
	silenceOfficialSDK.Do(func() { optlogging.SetLogger(discardLogs{}) })
	cm := optconfig.NewStaticProjectConfigManagerWithOptions("", optconfig.WithInitialDatafile(datafile))
	if cm == nil {
		tb.Fatalf("official SDK rejected the datafile")
	}
	f := &optclient.OptimizelyFactory{Datafile: datafile}
	opts := []optclient.OptionFunc{
		optclient.WithConfigManager(cm),
		optclient.WithEventProcessor(dropEvents{}),
		optclient.WithOdpDisabled(true),
	}
	if profiles != nil {
		opts = append(opts, optclient.WithUserProfileService(profiles))
	}
	c, err := f.Client(opts...)
	if err != nil {
		tb.Fatalf("official client: %v", err)
	}
	tb.Cleanup(c.Close)
	return &oracle{c: c}
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

func (o *oracle) decide(u testUser, flagKey string, opts decideOpts) flagResult {
	uc := o.c.CreateUserContext(u.ID, u.Attrs)
	return fromOfficial(uc.Decide(flagKey, officialOptions(opts)))
}

func (o *oracle) decideForKeys(u testUser, keys []string, opts decideOpts) map[string]flagResult {
	uc := o.c.CreateUserContext(u.ID, u.Attrs)
	return fromOfficialMap(uc.DecideForKeys(keys, officialOptions(opts)))
}

func (o *oracle) decideAll(u testUser, opts decideOpts) map[string]flagResult {
	uc := o.c.CreateUserContext(u.ID, u.Attrs)
	return fromOfficialMap(uc.DecideAll(officialOptions(opts)))
}

func fromOfficial(d optclient.OptimizelyDecision) flagResult {
	r := flagResult{Enabled: d.Enabled, VariationKey: d.VariationKey, RuleKey: d.RuleKey}
	if d.Variables != nil {
		r.Variables = normalizeVariables(d.Variables.ToMap())
	}
	return r
}

func fromOfficialMap(ds map[string]optclient.OptimizelyDecision) map[string]flagResult {
	out := make(map[string]flagResult, len(ds))
	for k, d := range ds {
		out[k] = fromOfficial(d)
	}
	return out
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
