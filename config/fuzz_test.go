package config

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics on any input, that what it
// accepts validates, and that its errors stay bounded: at most maxProblems
// lines and a count, each short. The seed corpus is in
// testdata/fuzz/FuzzParse/.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, noEnv)
		if err != nil {
			msg := err.Error()
			lines := strings.Split(msg, "\n")
			if len(lines) > maxProblems+1 || !utf8.ValidString(msg) && utf8.Valid(data) {
				t.Fatalf("%d lines (valid UTF-8: %v): %.500q", len(lines), utf8.ValidString(msg), msg)
			}
			for _, l := range lines {
				if len(l) > 600 {
					t.Fatalf("a line of %d bytes: %.300q", len(l), l)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		if _, err := cfg.Active(); err != nil {
			t.Fatal(err)
		}
	})
}
