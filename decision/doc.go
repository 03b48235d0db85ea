// Package decision decides Optimizely experiments and feature flags from a
// version-4 datafile, keeping experiment assignments sticky through a
// ups.Service (a user profile store such as the Cassandra one).
//
// ParseDatafile validates and indexes a datafile once; NewClient wraps it
// with a profile store; DecideExperiment, Decide, DecideForKeys and
// DecideAll decide for one user. A Client is safe for concurrent use.
//
// # Datafiles and their limits
//
// A datafile may come from anywhere (a URL, a file, a request), so
// ParseDatafile accepts or rejects any input in time and memory
// proportional to its size, within Limits; Limits.ParseDatafile takes
// others (a zero field keeps its default):
//
//   - MaxBytes: 64 MiB, checked first.
//   - MaxKeyBytes: 1024 bytes for every key and name (experiment,
//     variation, rule, flag, variable and attribute keys, audience names,
//     the revision, statuses, forcedVariations entries).
//   - MaxIDBytes: 256 bytes for every ID. Experiment and variation IDs are
//     also held to ups.MaxExperimentIDBytes and ups.MaxVariationIDBytes and
//     must not be empty, so every accepted assignment can be saved.
//   - MaxConditionDepth: 32 nested lists and objects in an audience's
//     conditions or an experiment's audienceConditions, checked on the raw
//     JSON before it is decoded (the web app writes 4).
//   - MaxFlagsPerExperiment: 4 flags may use one experiment or rollout
//     (Optimizely gives each to one flag; sharing multiplies the work of
//     loading and deciding).
//   - MaxProblems: 100 problems are kept in a DatafileError, the others
//     counted; its message lists 10.
//   - MaxQuoteBytes: a problem quotes at most 64 bytes of a value, then
//     …(N bytes); a problem is cut at 1 KiB plus 8 times that.
//
// The whole datafile must be valid UTF-8 (unpaired surrogate escapes
// included), which encoding/json would have replaced with U+FFFD, changing
// IDs. Field names match case-insensitively and the last of duplicate
// names wins, as with encoding/json. JSON of the wrong shape is reported
// alone, at its path with indexes (experiments[3].trafficAllocation[0].
// endOfRange); otherwise every problem is reported with the element it is
// in (experiments[2] "exp_key": trafficAllocation[1]: …). Problems are
// formatted only when kept, so a rejected datafile costs no more than an
// accepted one.
//
// Measured on a shared 2-core machine (BenchmarkParseDatafile): a
// realistic 57 MB datafile of 170,000 experiments parses in about 1 s and
// allocates about 2.6 times its size; 1 MB made of the smallest elements a
// list can hold allocates at most about 16 MB, and each 1 MB hostile shape
// once costing seconds or gigabytes (a 1 MB key, conditions nested 9,990
// deep, flags sharing an experiment) is accepted or rejected in under
// 100 ms and 25 MB.
//
// # Experiments
//
// An experiment is decided in this order (the Python SDK's):
//
//  1. Status: only a "Running" experiment decides. It is checked first, so
//     a paused experiment serves nobody, not even users saved into it.
//  2. Whitelisting: forcedVariations[user ID]. Never saved. An entry naming
//     an unknown variation is ignored.
//  3. The saved variation, if it still exists in the experiment, before any
//     audience check. A saved ID that no longer exists is bucketed again
//     and overwritten.
//  4. Audiences: audienceConditions if present (an empty list lets everyone
//     in), else audienceIds OR-ed.
//  5. Mutual-exclusion group (policy "random"): the user must land on this
//     experiment in the group's allocation (key bucketingID+groupID).
//  6. Bucketing: MurmurHash3 x86 32-bit, seed 1, of bucketingID+experimentID,
//     bucket = floor(hash / 2^32 * 10000) in float64. The bucketing ID is the
//     $opt_bucketing_id attribute when it is a string, else the user ID.
//  7. A variation from bucketing is saved.
//
// # Flags
//
// A flag tries its experiments (experimentIds, in order, each decided as
// above) and stops at the first variation, even one with featureEnabled
// false. Otherwise its rollout: rules 0..n-2 in order, where failing a
// rule's audience moves to the next rule and passing it but missing its
// traffic jumps to the last rule ("Everyone Else"), which is evaluated
// with its audience and traffic. Rules bucket bucketingID+ruleID and never
// read or write profiles. Variables are the flag's defaults, overridden by
// the variation's values when it enables the feature, typed as the
// official SDK types them: boolean → bool, integer → int, double →
// float64, string → string, json → decoded JSON (map[string]any for
// objects; each decision gets its own copy).
//
// # Forced decisions
//
// User.Forced holds forced decisions as an SDK's user context holds them
// (SetForcedDecision), applied as the official Go SDK applies them: the
// flag's (no rule key) before anything else, its decision naming no rule;
// an experiment's before the experiment's status, whitelisting and saved
// variation; a delivery rule's before the rule's audiences. The variation
// key is looked up among all the flag's variations (experiments' first,
// then rules', in order); one the flag does not have is ignored with the
// SDK's reason. A forced variation is neither read from nor saved to the
// profile: a user's sticky assignment stays, and is served again once the
// forced decision is gone.
//
// # Reasons
//
// With IncludeReasons, a flag decision's reasons are the official Go SDK's
// decide reasons, word for word and in its order (the differential test
// compares them): forced decisions, whitelisting, the saved variation (a
// hit, or one no longer in the experiment), the bucketer's audience lines
// and its $opt_bucketing_id error, the audience evaluator's messages (an
// unknown condition type or match, an audience whose conditions are null,
// in the SDK's evaluation order: "and" stopping at its first false or null
// operand), a rollout's targeting ("does not meet conditions for targeting
// rule 2", "Everyone Else"), a flag without a rollout, an unknown flag.
// Like the SDK, bucketing, groups and traffic give none. A decision keeps
// at most 1,000 reasons, then a line counting the rest. Our own reasons
// are for what the SDK does not do: a status other than Running, a reset
// (Options.Resets), a refresh (Options.RefreshAfter), a lost first-writer
// race, and a store that failed, timed out or could not key the user
// (always reported, as the SDK reports errors). Without IncludeReasons
// nothing is formatted: the decision path does not allocate.
//
// # Profiles
//
// Every call makes at most one Lookup, and only when an experiment decision
// reaches step 3 (not for rollouts, paused experiments or whitelisted
// users, and never with IgnoreUserProfileService), and at most one Save,
// holding only the assignments the call made (ups.Service.Save is an
// upsert). A failing store never fails a decision: after a failed lookup
// the call decides as if the user had no profile and saves nothing (writing
// blind could replace an assignment it could not read); after a failed
// save the decisions stand. Either way the error is returned alongside the
// decisions, wrapping ErrProfileStore and the store's error, and the
// affected decisions carry a reason. A user ID that no store can key
// (empty, over ups.MaxUserIDBytes, not UTF-8; see ups.ValidateUserID) is
// decided like any other but without a profile, with a reason.
//
// # Audiences
//
// Conditions are parsed into typed trees at load time, so evaluation does
// not allocate. Evaluation is three-valued: a missing attribute, a value of
// the wrong type or an unknown match is null; null at the top counts as
// false. "or" is true if any operand is, else null if any is, else false;
// "not" negates its first operand and keeps null; "and" is false if any
// operand is false, else null if any is null, else true.
//
// Matchers follow the official Go SDK: exact compares strings with
// strings, booleans with booleans and numbers with numbers (any Go integer
// or float type, named numeric types and pointers to them; a bool is not a
// number); substring needs strings; gt, ge, lt, le compare numbers as
// float64; semver_* use the official SDK's version splitting and
// comparison; exists is true for a present, non-nil attribute.
//
// # Differences from the official Go SDK v2.0.0
//
// These are deliberate; a differential test checks everything else.
//
//   - Status: the Go SDK does not check experiment status and serves paused
//     experiments (and saved variations of them). We follow Python.
//   - "and" with null: the Go SDK returns null at the first null operand
//     even when a later one is false, so not(and(null, false)) is false
//     there and true here, as in the Python and JavaScript SDKs.
//   - Numbers that are not finite or exceed 2^53 in magnitude make exact,
//     gt, ge, lt and le null, as in Python; the Go SDK compares them.
//   - Bucketing in float64: v2.0.0 computes the bucket in float32, which
//     puts a few hash values one bucket higher (up to 10000, outside every
//     range); go-sdk PR #423 fixed it later.
//   - json.Number attributes are numbers here; the Go SDK treats them as
//     neither strings nor numbers (null).
//   - Condition lists: only a list's first element can be its operator (a
//     string elsewhere in a condition list is an error, and in
//     audienceConditions an audience ID), and a nested list without one is
//     an "or", as in Python; the Go SDK lets a later string set the
//     operator and evaluates an operator-less nested list to null.
//   - Invalid datafiles are rejected with every problem listed, where the
//     Go SDK loads them and resolves dangling references per user (an
//     unknown variation or audience, a missing rollout or experiment), and
//     variable values that do not parse as their type; it even panics
//     (recovering to an empty decision) on an invalid JSON variable.
//   - Datafiles beyond Limits are rejected: oversized keys and IDs,
//     conditions nested over 32 deep, an experiment or rollout used by
//     more than 4 flags, invalid UTF-8. The Go SDK loads them.
//   - A user ID that cannot key a profile is decided without one; the Go
//     SDK looks up and saves a profile for "" shared by every such user.
//   - An experiment key shared by several experiments (allowed across flags
//     in flags-first projects) cannot be decided with DecideExperiment; the
//     Go SDK picks the last one.
//   - ODP and events are not part of this package; DisableDecisionEvent is
//     accepted and changes nothing.
//   - Reasons are the SDK's but where the decisions above differ, and for
//     what the SDK does not do (see Reasons); a store's problems are
//     reported where they happen, where the SDK lists its errors first.
package decision
