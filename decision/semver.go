package decision

import "strings"

// semver is a version string split the way the official Go SDK v2 splits it
// for the semver_* matchers: up to three dot-separated numeric parts, then
// optionally everything after the first pre-release ("-") or build ("+")
// separator as one more part. The parts are substrings of the original, so
// parsing an attribute value does not allocate.
//
// The comparison rules below reproduce that SDK's quirks on purpose (for
// example "1.2.3-beta" vs "1.2.3-alpha" compares the whole suffix as one
// string, and a build suffix is compared like a pre-release one), because
// a user must land in the same audience whichever SDK decides.
type semver struct {
	parts [4]string
	n     int
	// pre reports a pre-release version: a "-" that is not the first byte
	// and comes before any "+".
	pre bool
}

func isPreRelease(s string) bool {
	pr := strings.IndexByte(s, '-')
	if pr <= 0 {
		return false
	}
	if b := strings.IndexByte(s, '+'); b > 0 {
		return pr < b
	}
	return true
}

func isBuild(s string) bool {
	b := strings.IndexByte(s, '+')
	if b <= 0 {
		return false
	}
	if pr := strings.IndexByte(s, '-'); pr > 0 {
		return b < pr
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseSemver splits s; ok is false for strings that are not versions
// (empty, containing a space, more than three numeric parts, or a
// non-numeric part before the suffix), which make a semver condition null.
func parseSemver(s string) (v semver, ok bool) {
	if s == "" || strings.IndexByte(s, ' ') >= 0 {
		return semver{}, false
	}
	v.pre = isPreRelease(s)
	prefix, suffix, hasSuffix := s, "", false
	if v.pre || isBuild(s) {
		sep := byte('+')
		if v.pre {
			sep = '-'
		}
		i := strings.IndexByte(s, sep)
		prefix, suffix, hasSuffix = s[:i], s[i+1:], true
	}
	for {
		if v.n == 3 {
			return semver{}, false
		}
		part, rest, more := strings.Cut(prefix, ".")
		if !isDigits(part) {
			return semver{}, false
		}
		v.parts[v.n] = part
		v.n++
		if !more {
			break
		}
		prefix = rest
	}
	if hasSuffix {
		v.parts[v.n] = suffix
		v.n++
	}
	return v, true
}

// digitsValue reads a string of ASCII digits. Values beyond int64 read as
// 0, as strconv.Atoi's failure does in the official SDK.
func digitsValue(s string) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0
		}
		n = n*10 + d
	}
	return n
}

// compareSemver compares attribute version a with condition version c and
// returns -1, 0 or 1 (a < c, a == c up to c's precision, a > c).
func compareSemver(a, c semver) int {
	for i := 0; i < c.n; i++ {
		if a.n <= i {
			// The attribute is less precise than the condition.
			if a.pre {
				return 1
			}
			return -1
		}
		ap, cp := a.parts[i], c.parts[i]
		switch {
		case !isDigits(ap):
			if r := compareSemverStrings(ap, cp, a.pre, c.pre); r != 0 {
				return r
			}
		case isDigits(cp):
			an, cn := digitsValue(ap), digitsValue(cp)
			if an < cn {
				return -1
			}
			if an > cn {
				return 1
			}
		default:
			return -1
		}
	}
	if a.pre && !c.pre {
		return -1
	}
	return 0
}

func compareSemverStrings(ap, cp string, aPre, cPre bool) int {
	switch {
	case ap < cp:
		if cPre && !aPre {
			return 1
		}
		return -1
	case ap > cp:
		if !cPre && aPre {
			return -1
		}
		return 1
	}
	return 0
}
