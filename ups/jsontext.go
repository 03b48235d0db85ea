package ups

import (
	"errors"
	"fmt"
	"unicode/utf8"

	clipText "github.com/stickybucket/stickybucket/internal/clip"
)

// maxEcho bounds how much of an input value a message repeats, so a
// hostile input cannot turn one error into megabytes of output.
const maxEcho = 64

// clip returns s whole if it is short, else its first maxEcho bytes (cut
// on a rune boundary) followed by "…" and the full length.
func clip(s string) string { return clipText.To(s, maxEcho) }

// ErrNotText is wrapped by ValidateJSONText's errors.
var ErrNotText = errors.New("not valid Unicode text")

// ValidateJSONText reports whether the strings of a raw JSON value hold
// only valid text. encoding/json replaces invalid UTF-8 bytes and lone UTF-16
// surrogate escapes (\ud800) with U+FFFD while decoding, so "\xff" and
// "\xfe" would both become "\ufffd": two user IDs would silently become
// one user. This looks at the bytes before decoding does; use it on any
// JSON whose strings become identifiers.
//
// raw must be syntactically valid JSON: then a backslash only ever occurs
// inside a string, as an escape.
func ValidateJSONText(raw []byte) error {
	if !utf8.Valid(raw) {
		for i := 0; i < len(raw); {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Errorf("%w: invalid UTF-8 byte 0x%02x at offset %d", ErrNotText, raw[i], i)
			}
			i += size
		}
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			continue // not valid JSON; the decoder reports it
		}
		switch {
		case r >= 0xd800 && r < 0xdc00: // high surrogate: a low one must follow
			if i+10 < len(raw) && raw[i+5] == '\\' && raw[i+6] == 'u' {
				if lo, ok := hex4(raw, i+7); ok && lo >= 0xdc00 && lo < 0xe000 {
					i += 10
					continue
				}
			}
			return fmt.Errorf("%w: lone UTF-16 surrogate escape \\u%04x at offset %d", ErrNotText, r, i-1)
		case r >= 0xdc00 && r < 0xe000:
			return fmt.Errorf("%w: lone UTF-16 surrogate escape \\u%04x at offset %d", ErrNotText, r, i-1)
		}
		i += 4
	}
	return nil
}

// hex4 decodes the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
