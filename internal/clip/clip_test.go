package clip

import "testing"

func TestTo(t *testing.T) {
	for _, tt := range []struct {
		s    string
		max  int
		want string
	}{
		{"short", 8, "short"},
		{"exactly8", 8, "exactly8"},
		{"0123456789", 4, "0123…(10 bytes)"},
		{"ééééé", 3, "é…(10 bytes)"}, // not half a rune
		{"\xff\xfe\xfd", 1, "\xff…(3 bytes)"},
	} {
		if got := To(tt.s, tt.max); got != tt.want {
			t.Errorf("To(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}
