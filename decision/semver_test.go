package decision

import "testing"

func TestParseSemver(t *testing.T) {
	tests := []struct {
		in    string
		parts []string
		pre   bool
	}{
		{"1", []string{"1"}, false},
		{"1.2", []string{"1", "2"}, false},
		{"1.2.3", []string{"1", "2", "3"}, false},
		{"01.002.3", []string{"01", "002", "3"}, false},
		{"1.2.3-beta.2", []string{"1", "2", "3", "beta.2"}, true},
		{"1.2.3+build.7", []string{"1", "2", "3", "build.7"}, false},
		{"2.0.0-rc.1+build.1", []string{"2", "0", "0", "rc.1+build.1"}, true},
		{"1.2.3+build-7", []string{"1", "2", "3", "build-7"}, false},
		{"1.2.3-", []string{"1", "2", "3", ""}, true},
		{"1-beta", []string{"1", "beta"}, true},
		// not versions
		{"", nil, false},
		{"1.2.3 ", nil, false},
		{"1.2.3.4", nil, false},
		{"1..2", nil, false},
		{".1", nil, false},
		{"v1.2", nil, false},
		{"-1", nil, false},
		{"+1", nil, false},
		{"1.x", nil, false},
		{"1.2-beta.3.4", []string{"1", "2", "beta.3.4"}, true},
	}
	for _, tc := range tests {
		v, ok := parseSemver(tc.in)
		if ok != (tc.parts != nil) {
			t.Errorf("parseSemver(%q): ok = %v", tc.in, ok)
			continue
		}
		if !ok {
			continue
		}
		got := v.parts[:v.n]
		if len(got) != len(tc.parts) || v.pre != tc.pre {
			t.Errorf("parseSemver(%q) = %q pre=%v, want %q pre=%v", tc.in, got, v.pre, tc.parts, tc.pre)
			continue
		}
		for i := range got {
			if got[i] != tc.parts[i] {
				t.Errorf("parseSemver(%q) = %q, want %q", tc.in, got, tc.parts)
				break
			}
		}
	}
}

func TestCompareSemver(t *testing.T) {
	tests := []struct {
		attr, cond string
		want       int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2", 0}, // equal up to the condition's precision
		{"1.2.3", "1", 0},
		{"1.2", "1.2.3", -1}, // less precise attribute
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.0", 1}, // numeric, not lexical
		{"2.0.0", "1.99.99", 1},
		{"1.2.3-beta", "1.2.3", -1}, // a pre-release is below its release
		{"1.2.3", "1.2.3-beta", -1}, // the SDK's quirk: a release is less precise than a pre-release condition
		{"1.2.3-beta", "1.2.3-alpha", 1},
		{"1.2.3-beta.2", "1.2.3-beta", 1},
		{"1.2.3-beta", "1.2.3-beta", 0},
		{"1.2.3+build.7", "1.2.3", 0},
		{"1.2.3+build.7", "1.2.3+build.8", -1},
		{"1.2-beta", "1.2.3", -1}, // "beta" vs "3" compare as strings, then a pre-release attribute is lower
		{"1.2", "1.2.3-beta", -1},
		{"99999999999999999999.0", "0.0", 0}, // overflowing parts read as 0, as Atoi's failure does
	}
	for _, tc := range tests {
		a, okA := parseSemver(tc.attr)
		c, okC := parseSemver(tc.cond)
		if !okA || !okC {
			t.Errorf("%q vs %q: not versions", tc.attr, tc.cond)
			continue
		}
		if got := compareSemver(a, c); got != tc.want {
			t.Errorf("compareSemver(%q, %q) = %d, want %d", tc.attr, tc.cond, got, tc.want)
		}
	}
}
