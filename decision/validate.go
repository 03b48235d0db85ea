package decision

import (
	"fmt"
	"strings"
)

// DatafileError is returned by ParseDatafile for a datafile that is valid
// JSON but malformed or inconsistent. Each problem names where it is, for
// example `experiments[2] "exp_key": trafficAllocation[1]: unknown
// variation "123"`.
type DatafileError struct {
	Problems []string
}

// maxListedProblems bounds the error message; Problems keeps them all.
const maxListedProblems = 10

func (e *DatafileError) Error() string {
	var b strings.Builder
	b.WriteString("decision: invalid datafile: ")
	for i, p := range e.Problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// problems collects every problem of a datafile, so one failed load lists
// all that needs fixing rather than the first.
type problems struct {
	list []string
}

func (p *problems) addf(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &DatafileError{Problems: p.list}
}

// named renders a list element for a path: `experiments[2] "exp_key"`.
func named(list string, i int, name string) string {
	return fmt.Sprintf("%s[%d] %q", list, i, name)
}

// uniqueIn reports duplicates and empty values of one identifier.
type uniqueIn struct {
	what string
	seen map[string]string // value → path of its first occurrence
}

func newUnique(what string) *uniqueIn {
	return &uniqueIn{what: what, seen: map[string]string{}}
}

// check records value at path and reports whether it is usable.
func (u *uniqueIn) check(value, path string, p *problems) bool {
	if value == "" {
		p.addf("%s: empty %s", path, u.what)
		return false
	}
	if first, dup := u.seen[value]; dup {
		p.addf("%s: duplicate %s %q (first at %s)", path, u.what, value, first)
		return false
	}
	u.seen[value] = path
	return true
}

// checkRanges validates a trafficAllocation against resolve, which maps an
// entityId to its entity (nil, false if unknown). An empty entityId is
// allowed: it reserves traffic for nobody.
func checkRanges[T any](raw []rawRange, path, entity string, resolve func(string) (*T, bool), p *problems) []trafficRange[T] {
	out := make([]trafficRange[T], 0, len(raw))
	for i, r := range raw {
		at := fmt.Sprintf("%s: trafficAllocation[%d]", path, i)
		if r.EndOfRange < 0 || r.EndOfRange > maxTraffic {
			p.addf("%s: endOfRange %d is outside [0, %d]", at, r.EndOfRange, maxTraffic)
		}
		tr := trafficRange[T]{end: r.EndOfRange}
		if r.EntityID != "" {
			e, ok := resolve(r.EntityID)
			if !ok {
				p.addf("%s: unknown %s %q", at, entity, r.EntityID)
				continue
			}
			tr.entity = e
		}
		out = append(out, tr)
	}
	return out
}
