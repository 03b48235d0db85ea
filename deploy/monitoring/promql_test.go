package monitoring

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// selector is one vector selector of an expression: a metric name and the
// labels its matchers name.
type selector struct {
	name   string
	labels []string
}

// query is what an expression reads: its selectors, and the labels its
// aggregations and vector matchings name (by, without, on, ignoring,
// group_left, group_right).
type query struct {
	selectors []selector
	grouping  []string
}

// functions are PromQL's functions and aggregation operators: an
// identifier followed by "(" must be one of them.
var functions = toSet(`abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time
bottomk ceil changes clamp clamp_max clamp_min cos cosh count count_over_time count_values
day_of_month day_of_week day_of_year days_in_month deg delta deriv double_exponential_smoothing
exp floor group histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
histogram_stdvar histogram_sum holt_winters hour idelta increase irate label_join label_replace
last_over_time limit_ratio limitk ln log10 log2 mad_over_time max max_over_time min min_over_time
minute month predict_linear present_over_time quantile quantile_over_time rad rate resets round
scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev stddev_over_time
stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk vector year`)

// keywords are PromQL's operators and modifiers spelt as words; grouping
// ones are followed by a list of labels.
var (
	aggregations = toSet(`avg bottomk count count_values group limit_ratio limitk max min quantile stddev stdvar sum topk`)
	keywords     = toSet(`and or unless bool offset inf nan start end atan2`)
	grouping     = toSet(`by without on ignoring group_left group_right`)
)

func toSet(words string) map[string]bool {
	s := map[string]bool{}
	for _, w := range strings.Fields(words) {
		s[strings.ToLower(w)] = true
	}
	return s
}

// readPromQL lexes expr and returns what it reads. It is not a parser: it
// knows enough of PromQL's syntax to find metric names (an identifier
// that is neither a keyword nor followed by "("), their matchers and the
// grouping labels, and it refuses unknown functions, unbalanced
// brackets and unterminated strings.
func readPromQL(expr string) (query, error) {
	var (
		q       query
		closers []byte
		// last is the index in q.selectors of a metric name just read,
		// which a following {…} belongs to; -1 otherwise.
		last = -1
	)
	l := &lexer{s: expr}
	for {
		l.space()
		if l.done() {
			break
		}
		c := l.s[l.i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if err := l.str(); err != nil {
				return q, err
			}
			last = -1
		case c == '{':
			labels, name, err := l.matchers()
			if err != nil {
				return q, err
			}
			switch {
			case last >= 0:
				q.selectors[last].labels = append(q.selectors[last].labels, labels...)
			case name != "":
				q.selectors = append(q.selectors, selector{name: name, labels: labels})
			default:
				return q, fmt.Errorf("a selector without a metric name at %d", l.i)
			}
			last = -1
		case c == '[':
			// A range or subquery: durations, Grafana's $__rate_interval.
			end := strings.IndexByte(l.s[l.i:], ']')
			if end < 0 {
				return q, fmt.Errorf("unclosed [ at %d", l.i)
			}
			l.i += end + 1
			last = -1
		case c == '(':
			closers = append(closers, ')')
			l.i++
			last = -1
		case c == ')' || c == ']' || c == '}':
			if len(closers) == 0 || closers[len(closers)-1] != c {
				return q, fmt.Errorf("unbalanced %c at %d", c, l.i)
			}
			closers = closers[:len(closers)-1]
			l.i++
			last = -1
		case isIdentStart(c):
			word := l.ident()
			lower := strings.ToLower(word)
			switch {
			case grouping[lower]:
				l.space()
				if !l.done() && l.s[l.i] == '(' {
					labels, err := l.labelList()
					if err != nil {
						return q, err
					}
					q.grouping = append(q.grouping, labels...)
				} else if lower != "group_left" && lower != "group_right" {
					return q, fmt.Errorf("%s without a label list at %d", word, l.i)
				}
				last = -1
			case keywords[lower]:
				last = -1
			case l.next() == '(' || (aggregations[word] && grouping[l.nextWord()]):
				// A function call, or an aggregation with its grouping
				// first (sum by (job) (…)).
				if !functions[word] {
					return q, fmt.Errorf("unknown function %s", word)
				}
				last = -1
			default:
				q.selectors = append(q.selectors, selector{name: word})
				last = len(q.selectors) - 1
			}
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (offset 5m).
			for !l.done() && (isIdentChar(l.s[l.i]) || l.s[l.i] == '.') {
				l.i++
			}
			last = -1
		case c == '$':
			return q, fmt.Errorf("a Grafana variable outside a string or range at %d", l.i)
		case strings.IndexByte("+-*/%^=!<>,@", c) >= 0:
			l.i++
			last = -1
		default:
			return q, fmt.Errorf("unexpected %q at %d", c, l.i)
		}
	}
	if len(closers) > 0 {
		return q, fmt.Errorf("%d brackets left open", len(closers))
	}
	if len(q.selectors) == 0 {
		return q, fmt.Errorf("no metric read")
	}
	return q, nil
}

type lexer struct {
	s string
	i int
}

func (l *lexer) done() bool { return l.i >= len(l.s) }

// space skips white space and comments.
func (l *lexer) space() {
	for !l.done() {
		switch c := l.s[l.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.i++
		case c == '#':
			for !l.done() && l.s[l.i] != '\n' {
				l.i++
			}
		default:
			return
		}
	}
}

// next returns the first character after white space, without consuming.
func (l *lexer) next() byte {
	save := l.i
	l.space()
	defer func() { l.i = save }()
	if l.done() {
		return 0
	}
	return l.s[l.i]
}

// nextWord returns the identifier after white space (lower case), or "",
// without consuming.
func (l *lexer) nextWord() string {
	save := l.i
	defer func() { l.i = save }()
	l.space()
	return strings.ToLower(l.ident())
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (l *lexer) ident() string {
	start := l.i
	for !l.done() && isIdentChar(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

// str skips a string literal.
func (l *lexer) str() error {
	q, start := l.s[l.i], l.i
	l.i++
	for !l.done() {
		switch c := l.s[l.i]; {
		case c == '\\' && q != '`':
			l.i += 2
		case c == q:
			l.i++
			return nil
		default:
			l.i++
		}
	}
	return fmt.Errorf("unterminated string at %d", start)
}

// matchers reads {name op "value", …} and returns the label names, and
// the metric name when a __name__ matcher gives it.
func (l *lexer) matchers() (labels []string, name string, err error) {
	l.i++ // {
	for {
		l.space()
		if l.done() {
			return nil, "", fmt.Errorf("unclosed {")
		}
		if l.s[l.i] == '}' {
			l.i++
			return labels, name, nil
		}
		if !isIdentStart(l.s[l.i]) {
			return nil, "", fmt.Errorf("a label name expected at %d", l.i)
		}
		label := l.ident()
		l.space()
		op := ""
		for !l.done() && strings.IndexByte("=!~", l.s[l.i]) >= 0 {
			op += string(l.s[l.i])
			l.i++
		}
		if !slices.Contains([]string{"=", "!=", "=~", "!~"}, op) {
			return nil, "", fmt.Errorf("label %s: bad matcher %q", label, op)
		}
		l.space()
		if l.done() || (l.s[l.i] != '"' && l.s[l.i] != '\'' && l.s[l.i] != '`') {
			return nil, "", fmt.Errorf("label %s: a string expected at %d", label, l.i)
		}
		start := l.i
		if err := l.str(); err != nil {
			return nil, "", err
		}
		if label == "__name__" && op == "=" {
			name = strings.Trim(l.s[start:l.i], "\"'`")
		} else {
			labels = append(labels, label)
		}
		l.space()
		if !l.done() && l.s[l.i] == ',' {
			l.i++
		}
	}
}

// labelList reads (a, b, …).
func (l *lexer) labelList() ([]string, error) {
	l.i++ // (
	var labels []string
	for {
		l.space()
		if l.done() {
			return nil, fmt.Errorf("unclosed label list")
		}
		switch c := l.s[l.i]; {
		case c == ')':
			l.i++
			return labels, nil
		case c == ',':
			l.i++
		case isIdentStart(c):
			labels = append(labels, l.ident())
		default:
			return nil, fmt.Errorf("a label name expected at %d", l.i)
		}
	}
}

// TestReadPromQL: the lexer on the shapes the dashboard and alerts use,
// and on mistakes it must catch.
func TestReadPromQL(t *testing.T) {
	for _, c := range []struct {
		expr string
		want query
	}{
		{
			`sum by (job) (rate(a_total{profile="unread"}[5m])) / sum by (job) (rate(a_total{profile=~"read|unread"}[5m])) > 0.05`,
			query{selectors: []selector{{"a_total", []string{"profile"}}, {"a_total", []string{"profile"}}}, grouping: []string{"job", "job"}},
		},
		{
			`histogram_quantile(0.99, sum(rate(h_bucket{route!~"health|ready", job=~"$job"}[$__rate_interval])) by (route, le))`,
			query{selectors: []selector{{"h_bucket", []string{"route", "job"}}}, grouping: []string{"route", "le"}},
		},
		{
			`max by (instance) (g) > 0 and on (instance) c_total offset 1h unless {__name__="x", a='b'}`,
			query{selectors: []selector{{"g", nil}, {"c_total", nil}, {"x", []string{"a"}}}, grouping: []string{"instance", "instance"}},
		},
		{
			"a / ignoring (code) group_left b # comment (\n",
			query{selectors: []selector{{"a", nil}, {"b", nil}}, grouping: []string{"code"}},
		},
	} {
		got, err := readPromQL(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{
		`sum(rate(a[5m])`, `rat(a[5m])`, `a{b="c"`, `a{b=c}`, `a{b~"c"}`, `a{b="c}`, `sum by a`,
		`{b="c"}`, `1 + 2`, `a[5m`, `a)`, `a{job=~$job}`,
	} {
		if q, err := readPromQL(bad); err == nil {
			t.Errorf("%s: read as %+v, want an error", bad, q)
		}
	}
}
