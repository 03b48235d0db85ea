package server

import (
	"bytes"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// specOnly are operations the document has and this branch's API does not
// register yet, with the reason. Keep it tiny: the test fails once one is
// registered, so the entry is removed when its route is merged.
var specOnly = map[string]string{}

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas map[string]*schema `yaml:"schemas"`
	} `yaml:"components"`
}

// operation is one method of a path.
type operation struct {
	Responses map[string]struct {
		Ref     string                              `yaml:"$ref"`
		Content map[string]struct{ Schema *schema } `yaml:"content"`
	} `yaml:"responses"`
}

// schema is the subset of JSON Schema the document uses.
type schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 any                `yaml:"type"` // a name or a list of names
	Required             []string           `yaml:"required"`
	Properties           map[string]*schema `yaml:"properties"`
	AdditionalProperties *schema            `yaml:"additionalProperties"`
	Items                *schema            `yaml:"items"`
	OneOf                []*schema          `yaml:"oneOf"`
	Enum                 []any              `yaml:"enum"`
}

func loadSpec(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	dec := yaml.NewDecoder(bytes.NewReader(openAPISpec))
	dec.KnownFields(false)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Paths) == 0 {
		t.Fatalf("openapi.yaml: openapi %q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOperations returns "METHOD /path" for every operation of doc.
func specOperations(doc openAPIDoc) map[string]operation {
	out := map[string]operation{}
	for path, item := range doc.Paths {
		for method, node := range item {
			if !slices.Contains(httpMethods, method) {
				continue // parameters, summary…
			}
			var op operation
			_ = node.Decode(&op)
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

// TestOpenAPIMatchesTheRoutes: every route NewAPI registers is in
// openapi.yaml with the same method, and every operation there is a route
// (but specOnly's); every route's path answers 405 to other methods with
// an Allow header naming exactly its methods.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	doc := loadSpec(t)
	ops := specOperations(doc)
	// With a client, so POST /oauth/token is registered too.
	mux := newTestServiceWith(t, v1, Options{Issuer: testIssuer(t)}).handler.(*apiMux)

	registered := map[string]bool{}
	methodsOf := map[string][]string{}
	for _, p := range mux.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Errorf("route %q has no method", p)
			continue
		}
		registered[p] = true
		methodsOf[path] = append(methodsOf[path], method)
		if _, ok := ops[p]; !ok {
			t.Errorf("route %s is registered (server/api.go) and not in openapi.yaml", p)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		// Ask the mux itself too, so a route registered some other way
		// than route() is seen.
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, strings.NewReplacer("{", "", "}", "").Replace(path), nil)
		_, matched := mux.Handler(req)
		switch {
		case matched == op && specOnly[op] != "":
			t.Errorf("route %s is registered now: remove it from specOnly (%q)", op, specOnly[op])
		case matched == op && !registered[op]:
			t.Errorf("route %s is registered without route() in NewAPI, so this test cannot list it", op)
		case matched != op && specOnly[op] == "":
			t.Errorf("openapi.yaml has %s, which the API does not register (the mux matches %q)", op, matched)
		}
	}
	for path, methods := range methodsOf {
		want := slices.Clone(methods)
		if slices.Contains(want, "GET") {
			want = append(want, "HEAD")
		}
		sort.Strings(want)
		got := strings.Split(mux.allow[path], ", ")
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s answers 405 with Allow %q, want the methods %q", path, mux.allow[path], want)
		}
	}
	for path := range mux.allow {
		if methodsOf[path] == nil {
			t.Errorf("a 405 entry for %s, which has no route", path)
		}
	}
	if len(registered) < 15 {
		t.Errorf("only %d routes found: the test is not reading NewAPI's", len(registered))
	}
}

// TestOpenAPIServed: GET /openapi.yaml serves the document, without a
// token, as Agent serves its own.
func TestOpenAPIServed(t *testing.T) {
	s := newTestService(t, v1, "a-token-of-16-bytes-or-more")
	r := s.do(t, "GET", "/openapi.yaml", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/yaml" || !bytes.Equal(r.body, openAPISpec) {
		t.Errorf("GET /openapi.yaml: %d %q, %d bytes; want 200 application/yaml and the document", r.status, r.header.Get("Content-Type"), len(r.body))
	}
	if r := s.do(t, "GET", "/v1/config", ""); r.status != 401 {
		t.Errorf("GET /v1/config without the token: %d, want 401 (the token is in force)", r.status)
	}
}

// TestResponsesMatchTheSpec: real answers of the API, good and bad, are
// declared for their operation and status and fit the declared schema
// (types, required fields, items, maps, references).
func TestResponsesMatchTheSpec(t *testing.T) {
	doc := loadSpec(t)
	ops := specOperations(doc)
	s := newTestServiceWith(t, map[string]string{"k1": "../examples/datafile-v1.json", "k2": "../examples/datafile-v2.json"}, Options{Issuer: testIssuer(t)})
	k1 := []string{"X-Optimizely-SDK-Key", "k1"}
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	cases := []struct {
		op, path, body string
		header         []string
		status         int
	}{
		{"POST /v1/decide", "/v1/decide?keys=new_search", alice, k1, 200},
		{"POST /v1/decide", "/v1/decide", alice, k1, 200},
		{"POST /v1/decide", "/v1/decide?keys=new_search", alice, []string{"X-Optimizely-SDK-Key", "nope"}, 403},
		{"POST /v1/decide", "/v1/decide?keys=new_search", alice, nil, 400},
		{"POST /v1/decide", "/v1/decide", `{"userId": 7}`, k1, 400},
		{"POST /v1/activate", "/v1/activate?experimentKey=checkout_button&featureKey=new_search", alice, k1, 200},
		{"POST /v1/track", "/v1/track?eventKey=purchase", alice, k1, 200},
		{"POST /v1/track", "/v1/track?eventKey=no_such_event", alice, k1, 200},
		{"POST /v1/override", "/v1/override", `{"userId":"alice"}`, k1, 403},
		{"GET /v1/config", "/v1/config", "", k1, 200},
		{"GET /v1/datafile", "/v1/datafile", "", k1, 200},
		{"POST /v1/lookup", "/v1/lookup", `{"userId":"alice"}`, k1, 200},
		{"POST /v1/save", "/v1/save", `{"userId":"bob","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`, k1, 200},
		{"GET /v1/ups/lookup", "/v1/ups/lookup?user_id=alice", "", nil, 200},
		{"POST /v1/ups/lookup", "/v1/ups/lookup", `{"user_id":"bob"}`, nil, 200},
		{"POST /v1/ups/save", "/v1/ups/save", `{"user_id":"carol","experiment_bucket_map":{"3001":{"variation_id":"4001"}}}`, nil, 200},
		{"GET /v1/profiles/{userId}", "/v1/profiles/alice", "", nil, 200},
		{"DELETE /v1/profiles/{userId}", "/v1/profiles/carol", "", nil, 204},
		{"GET /health", "/health", "", nil, 200},
		{"GET /ready", "/ready", "", nil, 200},
		{"POST /oauth/token", "/oauth/token", "grant_type=client_credentials&client_id=ci&client_secret=" + testClientSecretB64, form, 200},
		{"POST /oauth/token", "/oauth/token", "grant_type=client_credentials&client_id=ci&client_secret=eA==", form, 401},
		{"POST /oauth/token", "/oauth/token", "grant_type=password", form, 400},
		{"POST /oauth/token", "/oauth/token", "x", []string{"Content-Type", "text/plain"}, 415},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s %s → %d", tc.op, tc.path, tc.status)
		r := s.do(t, strings.Fields(tc.op)[0], tc.path, tc.body, tc.header...)
		if r.status != tc.status {
			t.Errorf("%s: got %d: %s", name, r.status, r.body)
			continue
		}
		op, ok := ops[tc.op]
		if !ok {
			t.Errorf("%s: no such operation in openapi.yaml", name)
			continue
		}
		resp, ok := op.Responses[strconv.Itoa(r.status)]
		if !ok {
			t.Errorf("%s: openapi.yaml declares no %d for %s", name, r.status, tc.op)
			continue
		}
		var sc *schema
		if resp.Ref != "" {
			sc = &schema{Ref: "#/components/schemas/Error"} // every shared response is an Error
		} else if c, ok := resp.Content["application/json"]; ok {
			sc = c.Schema
		}
		if len(r.body) == 0 {
			if sc != nil {
				t.Errorf("%s: no body, the document declares one", name)
			}
			continue
		}
		if sc == nil {
			t.Errorf("%s: a body (%.80s), the document declares none", name, r.body)
			continue
		}
		for _, problem := range validate(doc, sc, r.json(t), "$") {
			t.Errorf("%s: %s", name, problem)
		}
	}
}

// validate checks v against sc and returns what does not fit.
func validate(doc openAPIDoc, sc *schema, v any, at string) []string {
	for depth := 0; sc.Ref != ""; depth++ {
		name, ok := strings.CutPrefix(sc.Ref, "#/components/schemas/")
		if !ok || doc.Components.Schemas[name] == nil || depth > 10 {
			return []string{fmt.Sprintf("%s: reference %q does not resolve", at, sc.Ref)}
		}
		sc = doc.Components.Schemas[name]
	}
	if len(sc.OneOf) > 0 {
		matched := 0
		for _, alt := range sc.OneOf {
			if len(validate(doc, alt, v, at)) == 0 {
				matched++
			}
		}
		if matched != 1 {
			return []string{fmt.Sprintf("%s: fits %d of the oneOf alternatives, want 1", at, matched)}
		}
		return nil
	}
	if sc.Type != nil && !typeFits(sc.Type, v) {
		return []string{fmt.Sprintf("%s: %T does not fit type %v", at, v, sc.Type)}
	}
	if len(sc.Enum) > 0 && !slices.ContainsFunc(sc.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", at, v, sc.Enum)}
	}
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for _, req := range sc.Required {
			if _, ok := v[req]; !ok {
				out = append(out, fmt.Sprintf("%s: required field %q missing", at, req))
			}
		}
		for k, fv := range v {
			if p := sc.Properties[k]; p != nil {
				out = append(out, validate(doc, p, fv, at+"."+k)...)
			} else if sc.AdditionalProperties != nil {
				out = append(out, validate(doc, sc.AdditionalProperties, fv, at+"."+k)...)
			}
		}
	case []any:
		if sc.Items != nil {
			for i, item := range v {
				out = append(out, validate(doc, sc.Items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return out
}

// typeFits reports whether v (decoded by encoding/json) is of the type
// named, or one of the types listed.
func typeFits(typ, v any) bool {
	if list, ok := typ.([]any); ok {
		return slices.ContainsFunc(list, func(t any) bool { return typeFits(t, v) })
	}
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "null":
		return v == nil
	}
	return false
}

// TestOpenAPIReferencesResolve: every $ref in the document names a
// component it defines, and every operation has an operationId of its own
// and at least one response.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(openAPISpec, &root); err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(openAPISpec, &tree); err != nil {
		t.Fatal(err)
	}
	resolve := func(ref string) bool {
		var at any = tree
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := at.(map[string]any)
			if !ok {
				return false
			}
			if at, ok = m[part]; !ok {
				return false
			}
		}
		return true
	}
	refs := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					refs++
					if ref := n.Content[i+1].Value; !strings.HasPrefix(ref, "#/components/") || !resolve(ref) {
						t.Errorf("line %d: $ref %q does not resolve", n.Content[i+1].Line, ref)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	if refs < 50 {
		t.Errorf("only %d references found", refs)
	}
	ids := map[string]string{}
	for path, item := range loadSpec(t).Paths {
		for method, node := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op struct {
				OperationID string         `yaml:"operationId"`
				Responses   map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			where := strings.ToUpper(method) + " " + path
			if prev, dup := ids[op.OperationID]; op.OperationID == "" || dup {
				t.Errorf("%s: operationId %q missing or also %s's", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
		}
	}
}
