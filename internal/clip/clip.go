// Package clip shortens the values that messages repeat: an error about a
// megabyte-long key must not be a megabyte long.
package clip

import (
	"strconv"
	"unicode/utf8"
)

// To returns s whole when it is at most max bytes, else its first max
// bytes, cut back to a rune boundary (at most utf8.UTFMax-1 bytes: text
// that is not UTF-8 is cut where it stands), followed by "…(N bytes)" with
// s's full length.
func To(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && n > max-utf8.UTFMax+1 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
