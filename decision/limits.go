package decision

import "github.com/stickybucket/stickybucket/ups"

// Limits bounds what ParseDatafile accepts, so that a datafile from a
// broken or hostile source is accepted or rejected in time and memory
// proportional to its size, every problem message is short, and every
// experiment and variation ID it accepts can be saved in a profile.
//
// A zero field takes its default (see DefaultLimits); the defaults admit
// every datafile Optimizely produces, including projects far larger than
// any seen in practice (a 55 MB datafile of 170,000 experiments parses with
// them). Limits{}.ParseDatafile is ParseDatafile.
type Limits struct {
	// MaxBytes is the largest datafile accepted, in bytes, checked before
	// anything else. Default 64 MiB. Parsing allocates in proportion to
	// the datafile's size: about 2.6 times it for a realistic datafile, at
	// most about 16 times for one made of the smallest possible elements
	// (so about 1 GiB at the default limit).
	MaxBytes int
	// MaxKeyBytes bounds every key and name: experiment, variation, rule,
	// flag, variable and attribute keys, audience names, the revision,
	// experiment statuses and the user IDs and variation keys of
	// forcedVariations. Default 1024.
	MaxKeyBytes int
	// MaxIDBytes bounds every ID. Default 256. Experiment and variation IDs
	// (rules' too) are saved in profiles, so they are also held to
	// ups.MaxExperimentIDBytes and ups.MaxVariationIDBytes whatever this
	// says; IDs must not be empty, and the whole datafile must be valid
	// UTF-8, so every accepted ID can be saved.
	MaxIDBytes int
	// MaxConditionDepth bounds how deeply an audience's conditions or an
	// experiment's audienceConditions nest, counting every JSON list and
	// object: ["and", ["or", {"name": …}]] is 3 deep. It is checked on the
	// raw JSON before any of it is decoded. Default 32; the web app writes
	// 4.
	MaxConditionDepth int
	// MaxFlagsPerExperiment bounds how many times feature flags may refer
	// to one experiment (entries in experimentIds) and to one rollout
	// (rolloutId). Optimizely gives each experiment and rollout to one
	// flag; the official SDKs accept more, but each sharing flag repeats
	// the work of loading (typing the variables of every variation) and of
	// deciding. Default 4.
	MaxFlagsPerExperiment int
	// MaxProblems bounds how many problems a DatafileError holds; the
	// others are only counted (DatafileError.Omitted). Default 100.
	MaxProblems int
	// MaxQuoteBytes bounds how much of a value (a key, an ID, a variable
	// value) a problem quotes: a longer one is cut to its first
	// MaxQuoteBytes bytes followed by …(N bytes). Each problem is also cut
	// at 1 KiB plus 8 times this. Default 64.
	MaxQuoteBytes int
}

// DefaultLimits returns the limits ParseDatafile applies, those a zero
// Limits field takes. It is a function so that no caller can change what
// ParseDatafile accepts for everyone else.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:              64 << 20,
		MaxKeyBytes:           1024,
		MaxIDBytes:            256,
		MaxConditionDepth:     32,
		MaxFlagsPerExperiment: 4,
		MaxProblems:           100,
		MaxQuoteBytes:         64,
	}
}

// withDefaults fills zero (or negative) fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxBytes, d.MaxBytes)
	fill(&l.MaxKeyBytes, d.MaxKeyBytes)
	fill(&l.MaxIDBytes, d.MaxIDBytes)
	fill(&l.MaxConditionDepth, d.MaxConditionDepth)
	fill(&l.MaxFlagsPerExperiment, d.MaxFlagsPerExperiment)
	fill(&l.MaxProblems, d.MaxProblems)
	fill(&l.MaxQuoteBytes, d.MaxQuoteBytes)
	return l
}

// experimentIDBytes and variationIDBytes are the ID limits of experiments
// and variations: MaxIDBytes, but never more than a profile can hold.
func (l Limits) experimentIDBytes() int { return min(l.MaxIDBytes, ups.MaxExperimentIDBytes) }
func (l Limits) variationIDBytes() int  { return min(l.MaxIDBytes, ups.MaxVariationIDBytes) }

// maxProblemBytes is where a problem message is cut.
func (l Limits) maxProblemBytes() int { return 1024 + 8*l.MaxQuoteBytes }
