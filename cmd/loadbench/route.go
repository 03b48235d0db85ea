package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Route is what a target is asked, one of the Route… constants.
type Route string

// Routes: each has its own request (path and body, built once per user)
// and its own check of a 2xx answer.
const (
	// RouteDecide is POST /v1/decide?keys=FLAG {"userId", "userAttributes"},
	// OK when the answer decides the flag.
	RouteDecide Route = "decide"
	// RouteLookup is Agent's POST /v1/lookup {"userId"}, OK when the answer
	// echoes the user ID and has an experimentBucketMap object.
	RouteLookup Route = "lookup"
	// RouteUPSLookup is stickybucket's POST /v1/ups/lookup {"user_id"}, OK
	// when the answer echoes the user ID and has an experiment_bucket_map
	// object.
	RouteUPSLookup Route = "ups-lookup"
	// RouteUPSSave is stickybucket's POST /v1/ups/save with an SDK's whole
	// profile, {"user_id", "experiment_bucket_map": Config.SaveProfile}, OK
	// when the answer has the counts written, unchanged and lost.
	RouteUPSSave Route = "ups-save"
)

// routes lists every route, in the order help texts give them.
var routes = []Route{RouteDecide, RouteLookup, RouteUPSLookup, RouteUPSSave}

// parseRoute reads a route's name.
func parseRoute(s string) (Route, error) {
	r := Route(s)
	if !slices.Contains(routes, r) {
		return "", fmt.Errorf("route %q: want one of %s", s, routeNames())
	}
	return r, nil
}

func routeNames() string {
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// orDefault is the route a target with no route given gets.
func (r Route) orDefault() Route {
	if r == "" {
		return RouteDecide
	}
	return r
}

// path is the route's path and query, after the target's base path.
func (r Route) path(flag string) string {
	switch r.orDefault() {
	case RouteLookup:
		return "/v1/lookup"
	case RouteUPSLookup:
		return "/v1/ups/lookup"
	case RouteUPSSave:
		return "/v1/ups/save"
	default:
		return "/v1/decide?" + url.Values{"keys": {flag}}.Encode()
	}
}

// describe is the request line, for reports.
func (r Route) describe(flag string) string { return "POST " + r.path(flag) }

// needsSDKKey: Agent's routes pick the datafile by the SDK key header; the
// /v1/ups routes do not need it (they get it when one is given).
func (r Route) needsSDKKey() bool {
	r = r.orDefault()
	return r == RouteDecide || r == RouteLookup
}

// DefaultSaveProfile is the experiment_bucket_map of RouteUPSSave's
// bodies: experiment 3003's variation 4005 of examples/datafile-v1.json.
const DefaultSaveProfile = `{"3003":{"variation_id":"4005"}}`

// parseSaveProfile reads --save-profile: an experiment_bucket_map, a JSON
// object from experiment ID to {"variation_id": "<variation id>"}, with at
// least one entry. It is returned compact, ready to be spliced into bodies.
func parseSaveProfile(s string) (json.RawMessage, error) {
	var m map[string]struct {
		VariationID *string `json:"variation_id"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("save profile %q: want a JSON object from experiment ID to {\"variation_id\": ID}: %w", s, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("save profile %q: trailing data after the object", s)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("save profile %q: no experiment", s)
	}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if id == "" || m[id].VariationID == nil || *m[id].VariationID == "" {
			return nil, fmt.Errorf("save profile %q: experiment %q: want a non-empty ID and variation_id", s, id)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, fmt.Errorf("save profile %q: %w", s, err)
	}
	return buf.Bytes(), nil
}

// lookupBody is the request body of Agent's /v1/lookup.
type lookupBody struct {
	UserID string `json:"userId"`
}

// sdkLookupBody is the request body of /v1/ups/lookup.
type sdkLookupBody struct {
	UserID string `json:"user_id"`
}

// sdkSaveBody is the request body of /v1/ups/save.
type sdkSaveBody struct {
	UserID              string          `json:"user_id"`
	ExperimentBucketMap json.RawMessage `json:"experiment_bucket_map"`
}

// body builds the route's request body for user i of the pool.
func (r Route) body(p *userPool, i int, saveProfile json.RawMessage) ([]byte, error) {
	var v any
	switch r.orDefault() {
	case RouteLookup:
		v = lookupBody{UserID: p.ids[i]}
	case RouteUPSLookup:
		v = sdkLookupBody{UserID: p.ids[i]}
	case RouteUPSSave:
		if len(saveProfile) == 0 {
			saveProfile = json.RawMessage(DefaultSaveProfile)
		}
		v = sdkSaveBody{UserID: p.ids[i], ExperimentBucketMap: saveProfile}
	default:
		v = decideBody{UserID: p.ids[i], UserAttributes: p.attrs[i]}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("user %d: encode %s body: %w", i, r.orDefault(), err)
	}
	return raw, nil
}

// bodies builds the route's request body for every user of the pool.
func (r Route) bodies(p *userPool, saveProfile json.RawMessage) ([][]byte, error) {
	out := make([][]byte, len(p.ids))
	for i := range p.ids {
		b, err := r.body(p, i, saveProfile)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// decideResponse is the part of a decide answer the driver checks.
type decideResponse struct {
	FlagKey      string `json:"flagKey"`
	VariationKey string `json:"variationKey"`
}

// lookupResponse is the part of Agent's lookup answer the driver checks.
type lookupResponse struct {
	UserID              string                     `json:"userId"`
	ExperimentBucketMap map[string]json.RawMessage `json:"experimentBucketMap"`
}

// sdkLookupResponse is the part of /v1/ups/lookup's answer the driver checks.
type sdkLookupResponse struct {
	UserID              string                     `json:"user_id"`
	ExperimentBucketMap map[string]json.RawMessage `json:"experiment_bucket_map"`
}

// sdkSaveResponse is /v1/ups/save's answer; nil counts are missing.
type sdkSaveResponse struct {
	Written   *int64 `json:"written"`
	Unchanged *int64 `json:"unchanged"`
	Lost      *int64 `json:"lost"`
}

// checker checks 2xx answers of one route; it keeps its decoding state
// between calls, so each worker has its own.
type checker struct {
	route  Route
	flag   string
	decide decideResponse
	lookup lookupResponse
	sdk    sdkLookupResponse
	save   sdkSaveResponse
	// labels caches answer labels ("entries:1"), so counting them does not
	// allocate a string per request.
	labels map[int64]string
}

func newChecker(r Route, flag string) *checker {
	return &checker{route: r.orDefault(), flag: flag}
}

// check reads a 2xx answer to user's request. It returns the answer's
// label, counted in the report's variations (a decide answer's variation
// key; for a lookup "entries:N", the size of the profile; for a save
// "written:N unchanged:N lost:N"), or what is wrong with the answer.
func (c *checker) check(body []byte, user string) (label, problem string) {
	switch c.route {
	case RouteLookup:
		c.lookup = lookupResponse{}
		if err := json.Unmarshal(body, &c.lookup); err != nil {
			return "", fmt.Sprintf("response does not parse: %v: %s", err, snippet(body))
		}
		return c.checkProfile(c.lookup.UserID, c.lookup.ExperimentBucketMap, "userId", "experimentBucketMap", user, body)
	case RouteUPSLookup:
		c.sdk = sdkLookupResponse{}
		if err := json.Unmarshal(body, &c.sdk); err != nil {
			return "", fmt.Sprintf("response does not parse: %v: %s", err, snippet(body))
		}
		return c.checkProfile(c.sdk.UserID, c.sdk.ExperimentBucketMap, "user_id", "experiment_bucket_map", user, body)
	case RouteUPSSave:
		c.save = sdkSaveResponse{}
		if err := json.Unmarshal(body, &c.save); err != nil {
			return "", fmt.Sprintf("response does not parse: %v: %s", err, snippet(body))
		}
		s := c.save
		if s.Written == nil || s.Unchanged == nil || s.Lost == nil {
			return "", fmt.Sprintf("response lacks written, unchanged or lost: %s", snippet(body))
		}
		return "written:" + strconv.FormatInt(*s.Written, 10) + " unchanged:" + strconv.FormatInt(*s.Unchanged, 10) +
			" lost:" + strconv.FormatInt(*s.Lost, 10), ""
	default:
		c.decide = decideResponse{}
		if err := json.Unmarshal(body, &c.decide); err != nil {
			return "", fmt.Sprintf("response does not parse: %v: %s", err, snippet(body))
		}
		if c.decide.FlagKey != c.flag {
			return "", fmt.Sprintf("response has flagKey %q, want %q: %s", c.decide.FlagKey, c.flag, snippet(body))
		}
		return c.decide.VariationKey, ""
	}
}

func (c *checker) checkProfile(gotUser string, bucketMap map[string]json.RawMessage, userField, mapField, user string, body []byte) (string, string) {
	if gotUser != user {
		return "", fmt.Sprintf("response has %s %q, want %q: %s", userField, gotUser, user, snippet(body))
	}
	if bucketMap == nil {
		return "", fmt.Sprintf("response has no %s object: %s", mapField, snippet(body))
	}
	n := int64(len(bucketMap))
	label, ok := c.labels[n]
	if !ok {
		label = "entries:" + strconv.FormatInt(n, 10)
		if c.labels == nil {
			c.labels = map[int64]string{}
		}
		c.labels[n] = label
	}
	return label, ""
}
