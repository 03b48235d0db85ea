package decision

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stickybucket/stickybucket/internal/clip"

	"github.com/go-json-experiment/json/jsontext"
)

// DatafileError is returned by ParseDatafile for a datafile that is too
// large, not JSON, of the wrong shape, or inconsistent. Each problem says
// where it is: a JSON path for JSON that does not fit the datafile's
// schema (`experiments[3].trafficAllocation[0].endOfRange: got a JSON
// string, want an integer`), the element and its key or ID otherwise
// (`experiments[2] "exp_key": trafficAllocation[1]: unknown variation
// "123"`). Values are quoted up to Limits.MaxQuoteBytes.
type DatafileError struct {
	// Problems holds the first Limits.MaxProblems problems found.
	Problems []string
	// Omitted counts the problems found beyond those.
	Omitted int
}

// maxListedProblems bounds the error message; Problems keeps more.
const maxListedProblems = 10

func (e *DatafileError) Error() string {
	var b strings.Builder
	b.WriteString("decision: invalid datafile: ")
	for i, p := range e.Problems {
		if i == maxListedProblems {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
	}
	if more := len(e.Problems) - min(len(e.Problems), maxListedProblems) + e.Omitted; more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// problems collects the problems of a datafile, so one failed load lists
// all that needs fixing rather than the first. It formats a problem only
// when it keeps it: beyond Limits.MaxProblems a problem costs a counter.
type problems struct {
	lim     Limits
	list    []string
	omitted int
	// stopped is set by fatal: parsing stops.
	stopped bool
}

func newProblems(lim Limits) *problems { return &problems{lim: lim} }

// quoted is a value to quote in a problem, cut to Limits.MaxQuoteBytes.
type quoted string

// full counts a problem and reports true when no more are kept: callers
// on paths a hostile datafile can repeat check it before building the
// problem's arguments, which would allocate.
func (p *problems) full() bool {
	if p.stopped {
		return true
	}
	if len(p.list) < p.lim.MaxProblems {
		return false
	}
	p.omitted++
	return true
}

// add records a problem at at (nil: the datafile as a whole). Arguments of
// type quoted are quoted and cut; the message is cut too.
func (p *problems) add(at *path, format string, args ...any) {
	if p.stopped {
		return // only the fatal problem is reported
	}
	if len(p.list) >= p.lim.MaxProblems {
		p.omitted++
		return
	}
	for i, a := range args {
		if q, ok := a.(quoted); ok {
			args[i] = quote(string(q), p.lim.MaxQuoteBytes)
		}
	}
	var b strings.Builder
	if at != nil {
		at.render(&b, p.lim.MaxQuoteBytes)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, format, args...)
	p.list = append(p.list, cut(b.String(), p.lim.maxProblemBytes()))
}

// fatal reports data that is not JSON or does not fit the datafile's
// schema. Parsing stops there, and the problem replaces those found
// before, which would only be its consequences.
func (p *problems) fatal(format string, args ...any) {
	if p.stopped {
		return
	}
	p.list, p.omitted = p.list[:0], 0
	p.add(nil, format, args...)
	p.stopped = true
}

func (p *problems) ok() bool { return len(p.list) == 0 && p.omitted == 0 }

func (p *problems) err() error {
	if p.ok() {
		return nil
	}
	return &DatafileError{Problems: p.list, Omitted: p.omitted}
}

// quote quotes s, cutting it to its first max bytes (at a rune boundary)
// followed by …(N bytes).
func quote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(cutRunes(s, max)) + fmt.Sprintf("…(%d bytes)", len(s))
}

// cut shortens s to about max bytes, saying how long it was.
func cut(s string, max int) string { return clip.To(s, max) }

// cutRunes returns the longest prefix of s of at most max bytes that does
// not split a rune.
func cutRunes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// path locates an element or field of the datafile in problems. It is a
// small value built as the parser descends (a parent pointer and the
// element's list, index and name) and rendered only when a problem is kept,
// so a valid datafile never formats one.
type path struct {
	up *path
	// list is the field holding the element or value; "" continues the
	// parent's segment, as nested condition lists do: conditions[1][2].
	list string
	// index is the element's position in list; -1 for a plain field.
	index int
	// name is the element's key or ID, quoted after the index when named.
	name  string
	named bool
}

// field is the path of up's field name.
func field(up *path, name string) path { return path{up: up, list: name, index: -1} }

// elem is the path of element i of up's list.
func elem(up *path, list string, i int) path { return path{up: up, list: list, index: i} }

// namedElem is the path of element i of up's list, shown with its name:
// experiments[2] "exp_key".
func namedElem(up *path, list string, i int, name string) path {
	return path{up: up, list: list, index: i, name: name, named: true}
}

// maxRenderedSegments bounds how many segments a path renders; deeper
// ones (only condition lists nest deeply, and they are bounded by
// Limits.MaxConditionDepth) render as "…".
const maxRenderedSegments = 64

func (p *path) render(b *strings.Builder, quoteMax int) {
	var segs [maxRenderedSegments]*path
	n := 0
	deeper := false
	for s := p; s != nil; s = s.up {
		if n == len(segs) {
			deeper = true
			break
		}
		segs[n] = s
		n++
	}
	if deeper {
		b.WriteString("…")
	}
	for i := n - 1; i >= 0; i-- {
		s := segs[i]
		if s.list != "" && (i < n-1 || deeper) {
			b.WriteString(": ")
		}
		b.WriteString(s.list)
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
		if s.named {
			b.WriteByte(' ')
			b.WriteString(quote(s.name, quoteMax))
		}
	}
}

// uniqueIn reports empty, oversized and duplicate values of one
// identifier among the elements of one list. It is a value: the first few
// values are kept inline, so the many small scopes of a datafile (the
// variations of one experiment) allocate nothing. It keeps where each
// value was first seen as the element's index and name, without a pointer
// to the element's path, so that paths can stay on the stack.
type uniqueIn struct {
	what  string
	limit int // in bytes
	n     int
	few   [8]seenAt
	seen  map[string]seenAt // once more than len(few) values
}

// seenAt is where a value was first seen: the element of the same list at
// index, named name if named.
type seenAt struct {
	value string
	index int
	name  string
	named bool
}

func newUnique(what string, limit int) uniqueIn {
	return uniqueIn{what: what, limit: limit}
}

// check records value at at, an element of the same list as every other
// value checked, named name, and reports whether it is usable. (name is
// at.name, passed apart so that at's parent need not escape to the heap.)
func (u *uniqueIn) check(value, name string, at *path, p *problems) bool {
	if !checkString(u.what, value, u.limit, at, p) {
		return false
	}
	if first, dup := u.find(value); dup {
		fp := path{up: at.up, list: at.list, index: first.index, name: first.name, named: first.named}
		duplicate(u.what, value, at, &fp, p)
		return false
	}
	s := seenAt{value: value, index: at.index, name: name, named: at.named}
	switch {
	case u.n < len(u.few):
		u.few[u.n] = s
	case u.n == len(u.few):
		u.seen = make(map[string]seenAt, 2*len(u.few))
		for _, f := range u.few {
			u.seen[f.value] = f
		}
		fallthrough
	default:
		u.seen[value] = s
	}
	u.n++
	return true
}

func (u *uniqueIn) find(value string) (seenAt, bool) {
	if u.seen != nil {
		s, ok := u.seen[value]
		return s, ok
	}
	for _, s := range u.few[:u.n] {
		if s.value == value {
			return s, true
		}
	}
	return seenAt{}, false
}

// duplicate reports value at at, first seen at first.
func duplicate(what, value string, at, first *path, p *problems) {
	if p.full() {
		return
	}
	var b strings.Builder
	first.render(&b, p.lim.MaxQuoteBytes)
	p.add(at, "duplicate %s %s (first at %s)", what, quoted(value), b.String())
}

// checkString reports an empty value or one over limit bytes.
func checkString(what, value string, limit int, at *path, p *problems) bool {
	if value == "" {
		if !p.full() {
			p.add(at, "empty %s", what)
		}
		return false
	}
	return checkLength(what, value, limit, at, p)
}

// checkLength reports a value over limit bytes; empty is fine.
func checkLength(what, value string, limit int, at *path, p *problems) bool {
	if len(value) > limit {
		if !p.full() {
			p.add(at, "%s is %d bytes, the limit is %d", what, len(value), limit)
		}
		return false
	}
	return true
}

// checkRanges validates the trafficAllocation of the element at at
// against resolve, which maps an entityId to its entity (nil, false if
// unknown). An empty entityId is allowed: it reserves traffic for nobody.
func checkRanges[T any](b *builder, list jsontext.Value, at *path, entity string, resolve func(string) (*T, bool)) []trafficRange[T] {
	out := make([]trafficRange[T], 0, countElements(list))
	r, p := &b.rng, b.p
	each(b, list, at, "trafficAllocation", r, func(i int) {
		if r.EndOfRange < 0 || r.EndOfRange > maxTraffic {
			if !p.full() {
				rat := elem(at, "trafficAllocation", i)
				p.add(&rat, "endOfRange %d is outside [0, %d]", r.EndOfRange, maxTraffic)
			}
		}
		tr := trafficRange[T]{end: r.EndOfRange}
		if r.EntityID != "" {
			e, ok := resolve(r.EntityID)
			if !ok {
				if !p.full() {
					rat := elem(at, "trafficAllocation", i)
					p.add(&rat, "unknown %s %s", entity, quoted(r.EntityID))
				}
				return
			}
			tr.entity = e
		}
		out = append(out, tr)
	})
	return out
}
