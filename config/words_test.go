package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// goWords are what a message must never show: Go types and yaml.v3's tags.
var goWords = regexp.MustCompile(`!!|\bconfig\.|\[\]|map\[|\b(u?int(8|16|32|64)?|float(32|64)|string|bool|struct|plain|time\.Time|Duration|Budget)\b`)

// TestParseTypeErrorsNameTheExactKeyInYAMLWords writes a value of the
// wrong kind at every key of the configuration, all on one line in flow
// mappings (where a line holds many keys), and wants one problem that
// names that very key and line, in the words of YAML.
func TestParseTypeErrorsNameTheExactKeyInYAMLWords(t *testing.T) {
	n := 0
	wrongValues(reflect.TypeFor[Config](), "", func(v string) string { return v }, func(path, doc, want string) {
		n++
		_, err := Parse([]byte(doc+"\n"), noEnv)
		if err == nil {
			t.Errorf("%s: accepted", doc)
			return
		}
		msg := err.Error()
		if prefix := keyName(path) + " (line 1): " + want; !strings.HasPrefix(msg, prefix) {
			t.Errorf("%s:\n%s\nwant it to start %q", doc, msg, prefix)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: more than one problem:\n%s", doc, msg)
		}
		if w := goWords.FindString(msg); w != "" {
			t.Errorf("%s: %q in %s", doc, w, msg)
		}
	})
	if n < 100 {
		t.Errorf("only %d cases", n)
	}
}

// wrongValues calls yield with a document that puts a value of the wrong
// kind at path, a key of type t, for path and every key under it; in(v)
// is the document with v at path.
// testSecretHash is base64 of a bcrypt hash (cost 4) of
// "0123456789abcdef0123456789abcdef".
const testSecretHash = "JDJhJDA0JFh4RU5BNVVuSVRob3p1bmZoNGguR2VqZTlBbTBab3AxRmVpZDJGeHVURTRvcnNNVy9mZk5H"

func wrongValues(t reflect.Type, path string, in func(v string) string, yield func(path, doc, want string)) {
	switch {
	case t == durationType, t == budgetType:
		yield(path, in("[1]"), "expected "+expected(t)+", got a list")
		yield(path, in("{a: 1}"), "expected "+expected(t)+", got a mapping")
		return
	case t == timeType:
		yield(path, in("[1]"), "expected a time")
		yield(path, in("soon"), `expected a time such as 2026-11-01T00:00:00Z, got the text "soon"`)
		return
	case t == resetType:
		yield(path, in("[1]"), "expected a time such as 2026-11-01T00:00:00Z, or a mapping")
		yield(path, in("soon"), `"soon" is not an RFC 3339 time`)
	}
	switch t.Kind() {
	case reflect.Struct:
		if t != resetType {
			yield(path, in("x"), `expected a mapping (key: value lines indented under the key, or {key: value}), got the text "x"`)
		}
		// What the keys around it need, so that the one wrong value is
		// the only problem.
		fillers := map[reflect.Type][][2]string{
			reflect.TypeFor[DatafileSource](): {{"sdk_key", "k"}, {"file", "f.json"}},
			resetType:                         {{"before", "2026-11-01T00:00:00Z"}},
			reflect.TypeFor[AuthClient]():     {{"id", "c"}, {"secret_hash", testSecretHash}, {"sdk_keys", "[k]"}},
		}[t]
		for name, f := range yamlFields(t) {
			var around string
			for _, kv := range fillers {
				if kv[0] != name {
					around += ", " + kv[0] + ": " + kv[1]
				}
			}
			wrongValues(f, join(path, name), func(v string) string { return in("{" + name + ": " + v + around + "}") }, yield)
		}
	case reflect.Map:
		yield(path, in("[a]"), "expected a mapping (key: value lines indented under the key, or {key: value}), got a list")
		key := "'1'"
		if t.Elem().Kind() == reflect.Struct && t.Elem() != resetType {
			key = "development"
		}
		wrongValues(t.Elem(), mapKey(path, strings.Trim(key, "'"), t.Elem()), func(v string) string { return in("{" + key + ": " + v + "}") }, yield)
	case reflect.Slice:
		yield(path, in("x"), `expected a list (items on lines starting with "- ", or [a, b]), got the text "x"`)
		wrongValues(t.Elem(), path+"[0]", func(v string) string { return in("[" + v + "]") }, yield)
	case reflect.String:
		yield(path, in("[1]"), "expected text, got a list")
		yield(path, in("{a: 1}"), "expected text, got a mapping")
	case reflect.Bool:
		yield(path, in("maybe"), `expected true or false, got the text "maybe"`)
		yield(path, in("[true]"), "expected true or false, got a list")
	case reflect.Int, reflect.Int64:
		yield(path, in("many"), `expected a whole number, got the text "many"`)
		yield(path, in("2.5"), "expected a whole number, got the number 2.5")
		yield(path, in("99999999999999999999"), "the number 99999999999999999999 is out of range")
		yield(path, in("{a: 1}"), "expected a whole number, got a mapping")
	case reflect.Float64:
		yield(path, in("many"), `expected a number, got the text "many"`)
		yield(path, in("{a: 1}"), "expected a number, got a mapping")
	default:
		panic(fmt.Sprintf("%s: no wrong values for %s", path, t))
	}
}

// TestParseAliasErrorsInYAMLWords: an alias is checked for its kind where
// it is used; what it refers to is decoded there, and a problem decoding
// finds in it is told in YAML's words too.
func TestParseAliasErrorsInYAMLWords(t *testing.T) {
	for doc, want := range map[string]string{
		"x: &a [1]\ncassandra: {port: *a}\n":     "cassandra.port (line 2): expected a whole number, got a list",
		"base: &b {port: abc}\ncassandra: *b\n":  `base (line 1): the text "abc" does not fit here`,
		"base: &b [a]\nserver: {tokens: [*b]}\n": "server.tokens[0] (line 2): expected text, got a list",
	} {
		_, err := Parse([]byte(doc), noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v\nwant %q", doc, err, want)
		} else if w := goWords.FindString(err.Error()); w != "" {
			t.Errorf("%q: %q in %s", doc, w, err)
		}
	}
}
