package main

import (
	"strconv"

	clipText "github.com/stickybucket/stickybucket/internal/clip"
)

// maxEcho bounds how much of an input value a message repeats, so a
// hostile line cannot turn one error into megabytes of output.
const maxEcho = 64

// clip returns s whole if it is short, else its first maxEcho bytes (cut
// on a rune boundary) followed by "…" and the full length.
func clip(s string) string { return clipTo(s, maxEcho) }

// clipTo is clip with a bound of max bytes.
func clipTo(s string, max int) string { return clipText.To(s, max) }

// quote is strconv.Quote of clip(s): a value in a message, bounded and
// with control characters and invalid bytes made visible.
func quote(s string) string { return strconv.Quote(clip(s)) }
