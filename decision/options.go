package decision

import "fmt"

// Option changes how one Decide call behaves. The values are the strings the
// Optimizely SDKs and Agent use, so options can be passed through from HTTP
// requests with ParseOption.
type Option string

// The decide options of the Optimizely SDKs.
const (
	// IgnoreUserProfileService skips the profile store for the call: no
	// lookup, no save. Experiments are bucketed afresh.
	IgnoreUserProfileService Option = "IGNORE_USER_PROFILE_SERVICE"
	// EnabledFlagsOnly leaves disabled flags out of DecideForKeys and
	// DecideAll results. Decide always returns its one decision.
	EnabledFlagsOnly Option = "ENABLED_FLAGS_ONLY"
	// IncludeReasons fills the Reasons of each decision with the steps that
	// led to it. Without it only problems (unknown flag, failing profile
	// store) are reported, so the common path builds no strings.
	IncludeReasons Option = "INCLUDE_REASONS"
	// PeekUserProfileService reads the profile and serves a saved
	// assignment as usual, but writes nothing: a user without one is
	// bucketed and told the variation without being enrolled, and nothing
	// is refreshed. Not an Optimizely option; an SDK ignores it.
	PeekUserProfileService Option = "PEEK_USER_PROFILE_SERVICE"
	// ExcludeVariables leaves FlagDecision.Variables empty.
	ExcludeVariables Option = "EXCLUDE_VARIABLES"
	// DisableDecisionEvent changes nothing here: this package sends no
	// events. A caller that sends impressions (the server) sends none for
	// the call.
	DisableDecisionEvent Option = "DISABLE_DECISION_EVENT"
)

// ParseOption returns the Option named s, or an error naming s if it is not
// one of the decide options.
func ParseOption(s string) (Option, error) {
	switch o := Option(s); o {
	case IgnoreUserProfileService, PeekUserProfileService, EnabledFlagsOnly, IncludeReasons, ExcludeVariables, DisableDecisionEvent:
		return o, nil
	}
	return "", fmt.Errorf("decision: unknown decide option %q", s)
}

// options is the parsed form of a call's []Option.
type options struct {
	ignoreProfiles   bool
	peek             bool
	enabledOnly      bool
	includeReasons   bool
	excludeVariables bool
}

// parseOptions folds opts into flags. Values that are not decide options are
// ignored, as the SDKs ignore them; ParseOption is where strings from outside
// are checked.
func parseOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		switch opt {
		case IgnoreUserProfileService:
			o.ignoreProfiles = true
		case PeekUserProfileService:
			o.peek = true
		case EnabledFlagsOnly:
			o.enabledOnly = true
		case IncludeReasons:
			o.includeReasons = true
		case ExcludeVariables:
			o.excludeVariables = true
		}
	}
	return o
}
