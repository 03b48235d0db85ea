package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stickybucket/stickybucket/ups"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/, so plain go test
// replays them; go test -fuzz=FuzzName explores from there.

// mayHoldReplacement reports whether raw JSON can legitimately decode to a
// U+FFFD: it holds one, raw or escaped.
func mayHoldReplacement(raw []byte) bool {
	return bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}

// textIn reports whether every string in a decoded JSON value (keys too)
// is valid UTF-8, and whether any holds U+FFFD.
func textIn(v any) (valid, replacement bool) {
	valid = true
	var walk func(any)
	check := func(s string) {
		valid = valid && utf8.ValidString(s)
		replacement = replacement || strings.ContainsRune(s, utf8.RuneError)
	}
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			check(v)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for k, x := range v {
				check(k)
				walk(x)
			}
		}
	}
	walk(v)
	return valid, replacement
}

func FuzzParseRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := parseRequest(line)
		if err != nil {
			msg := err.Error()
			if len(msg) > 512 || !utf8.ValidString(msg) {
				t.Fatalf("message of %d bytes (valid UTF-8: %v): %.300q", len(msg), utf8.ValidString(msg), msg)
			}
			return
		}
		if r.UserID == "" || r.IsFlag && r.Experiment != "" || !r.IsFlag && r.Flag != "" {
			t.Fatalf("accepted an inconsistent request: %+v", r)
		}
		fields := []any{r.UserID, r.Experiment, r.Flag, map[string]any(r.Attributes)}
		valid, replacement := textIn(fields)
		if !valid || replacement && !mayHoldReplacement(line) {
			t.Fatalf("accepted text that decoding replaced: %q", line)
		}
		// What decide prints for it reads back the same.
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(experimentLine{UserID: r.UserID, Experiment: r.Experiment}); err != nil {
			t.Fatal(err)
		}
		back, err := parseOutputLine(out.Bytes())
		if err != nil || back.UserID != r.UserID || *back.Experiment != r.Experiment {
			t.Fatalf("output %q does not read back (%v)", out.Bytes(), err)
		}
	})
}

func FuzzReadProfiles(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		tab := newProfileTable()
		err := readProfiles(ctx, bytes.NewReader(data), func(p ups.Profile) error { return tab.Save(ctx, p) })
		if err != nil {
			msg := err.Error()
			if len(msg) > 1024 || !utf8.ValidString(msg) {
				t.Fatalf("message of %d bytes (valid UTF-8: %v): %.300q", len(msg), utf8.ValidString(msg), msg)
			}
			return
		}
		if !utf8.Valid(data) && !bytes.Contains(data, []byte("\uFFFD")) {
			// Only text outside strings can be invalid here, which JSON
			// forbids: every string was valid.
			t.Fatalf("accepted invalid UTF-8: %q", data)
		}
		// Written back and read again, the file holds the same profiles.
		var out bytes.Buffer
		if err := writeProfiles(&out, tab.All()); err != nil {
			t.Fatal(err)
		}
		again := newProfileTable()
		if err := readProfiles(ctx, bytes.NewReader(out.Bytes()), func(p ups.Profile) error { return again.Save(ctx, p) }); err != nil {
			t.Fatalf("reading back what was written: %v\n%s", err, out.Bytes())
		}
		var want, got []ups.Profile
		for p := range tab.All() {
			want = append(want, p)
		}
		for p := range again.All() {
			got = append(got, p)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("round trip changed the profiles:\n%v\n%v", want, got)
		}
	})
}
