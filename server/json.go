package server

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/stickybucket/stickybucket/internal/jsonstring"
)

// Responses on the hot path are appended to pooled byte slices instead of
// going through encoding/json's reflection: a decide response is small and
// its shape fixed, and the encoder's allocations were most of a request's
// cost. Anything of a type these functions do not know goes through
// encoding/json.

type buffer struct{ b []byte }

var buffers = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 1024)} }}

func getBuffer() *buffer { return buffers.Get().(*buffer) }

func putBuffer(b *buffer) {
	if cap(b.b) > 64<<10 { // do not keep the occasional huge response
		return
	}
	buffers.Put(b)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (internal/jsonstring).
func appendString(b []byte, s string) []byte { return jsonstring.Append(b, s) }

// appendValue appends a value decoded from JSON or typed by the decision
// package (variables): strings, booleans, numbers, maps, slices and nil.
// Map keys are sorted, as encoding/json sorts them.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return appendFloat(b, x)
	case json.Number:
		return append(b, x...)
	case map[string]any:
		b = append(b, '{')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
}

// appendFloat writes f as encoding/json does (ES6 number formatting);
// NaN and infinities, which JSON cannot carry, become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendStrings appends a JSON array of strings; nil becomes [].
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}
