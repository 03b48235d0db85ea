package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/decision"
)

// decideBody is Agent's decide request.
type decideBody struct {
	UserID          string           `json:"userId"`
	UserAttributes  map[string]any   `json:"userAttributes"`
	DecideOptions   []string         `json:"decideOptions"`
	ForcedDecisions []forcedDecision `json:"forcedDecisions"`
	FetchSegments   bool             `json:"fetchSegments"`
}

// forcedDecision is one of Agent's forcedDecisions: ruleKey empty or left
// out forces the whole flag. As Agent, nothing is required: an entry with
// no flagKey matches no flag, one with no variationKey names no variation
// (the decision says so in its reasons), and the last of entries for the
// same flag and rule wins.
type forcedDecision struct {
	FlagKey      string `json:"flagKey"`
	RuleKey      string `json:"ruleKey"`
	VariationKey string `json:"variationKey"`
}

// jsonOptions match field names exactly as Agent writes them (userId,
// userAttributes, decideOptions…), the names its clients send: no other
// spelling is taken for one of them ("user_id", "userid" and "USERID" are
// unknown fields, ignored, so a body with only them misses "userId"). A
// repeated name is accepted, the last one winning, as encoding/json does.
var jsonOptions = jsontext.AllowDuplicateNames(true)

// parseUser decodes a request body (decide, activate, lookup, save): a
// body is required, and it must fit the target's shape.
func parseUser(data []byte, into any) error {
	if len(data) == 0 {
		return badRequest(errEmptyUserID)
	}
	if err := jsonv2.Unmarshal(data, into, jsonOptions); err != nil {
		return badRequest(fmt.Errorf("%w: %s", errParseBody, describeJSONError(err)))
	}
	return nil
}

// describeJSONError says what was wrong with a body, briefly and without
// echoing long input.
func describeJSONError(err error) string {
	var semErr *jsonv2.SemanticError
	var synErr *jsontext.SyntacticError
	switch {
	case errors.As(err, &semErr):
		path := strings.TrimPrefix(string(semErr.JSONPointer), "/")
		field, _, _ := strings.Cut(path, "/") // the request field, not the path inside it
		if field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", kindName(semErr.JSONKind))
		}
		if semErr.JSONKind == '0' && semErr.GoType != nil && semErr.GoType.Kind() != reflect.String {
			// Where in the field: "userAttributes.age", not "userAttributes".
			where := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(path, "/", "."), "~1", "/"), "~0", "~")
			return fmt.Sprintf("%q: number %s is out of range (a float64 cannot hold it)", cut(where, 96), cut(string(semErr.JSONValue), 32))
		}
		if semErr.GoType != nil {
			return fmt.Sprintf("%q must be %s, not %s", field, jsonKind(semErr.GoType.Kind().String()), kindName(semErr.JSONKind))
		}
		return fmt.Sprintf("%q: %s", field, cut(semErr.Error(), 120))
	case errors.As(err, &synErr):
		return fmt.Sprintf("invalid JSON at byte %d: %s", synErr.ByteOffset, cut(synErr.Err.Error(), 80))
	}
	return cut(err.Error(), 120)
}

// kindName names a JSON kind as a message says it.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value"
}

// userBody is a request body that names a user.
type userBody interface{ user() string }

func (b *decideBody) user() string { return b.UserID }

// readUserBody reads r's body into buf and decodes it into into, which
// must name a user: the preamble of every POST route.
func (a *api) readUserBody(w http.ResponseWriter, r *http.Request, buf *buffer, into userBody) error {
	data, err := readBody(w, r, buf, a.maxBody)
	if err != nil {
		return err
	}
	if err := parseUser(data, into); err != nil {
		return err
	}
	if into.user() == "" {
		return badRequest(errEmptyUserID)
	}
	return nil
}

// decideOptions parses Agent's decideOptions strings.
func decideOptions(names []string) ([]decision.Option, error) {
	if len(names) == 0 {
		return nil, nil
	}
	opts := make([]decision.Option, len(names))
	for i, n := range names {
		o, err := decision.ParseOption(n)
		if err != nil {
			return nil, badRequest(fmt.Errorf("decideOptions[%d]: %q is not a decide option", i, cut(n, 64)))
		}
		opts[i] = o
	}
	return opts, nil
}

// decide serves POST /v1/decide?keys=…: one decision object for one key,
// an array for none (every flag) or several.
func (a *api) decide(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	var body decideBody
	if err := a.readUserBody(w, r, buf, &body); err != nil {
		writeError(w, err)
		return
	}
	opts, err := body.options()
	if err != nil {
		writeError(w, err)
		return
	}
	keys, err := queryValues(r.URL.RawQuery, "keys")
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	keys = uniqueKeys(keys)
	// Every decision echoes the user's context: encode it once, and refuse
	// a request whose answer would be out of proportion (a megabyte of
	// attributes times thousands of keys) before deciding anything.
	ucBuf := getBuffer()
	defer putBuffer(ucBuf)
	uc := appendUserContext(ucBuf.b[:0], &body)
	ucBuf.b = uc
	n := len(keys)
	if n == 0 {
		n = len(df.Client.Datafile().FlagKeys())
	}
	if size := int64(n) * int64(len(uc)+decisionOverhead); size > a.maxResponse {
		writeError(w, &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf(
			"the answer would be about %d bytes (%d decisions, each echoing %d bytes of user context), over the limit of %d: ask for fewer keys or send fewer attributes",
			size, n, len(uc), a.maxResponse)})
		return
	}
	user := decision.User{ID: body.UserID, Attributes: body.UserAttributes, Forced: body.forced()}
	im := a.impressionsFor(df, user, slices.Contains(opts, decision.DisableDecisionEvent))
	enabledOnly := false
	if (im.on() || a.opts.Notifications.on()) && slices.Contains(opts, decision.EnabledFlagsOnly) {
		// The SDKs send the impressions and notifications of disabled
		// flags too, and leave them out of the answer only: decide them
		// all, filter here.
		opts = slices.DeleteFunc(opts, func(o decision.Option) bool { return o == decision.EnabledFlagsOnly })
		enabledOnly = true
	}

	// The body is decoded: its buffer holds the answer, sent in chunks.
	out := stream{w: w, b: buf.b[:0]}
	a.decideInto(r.Context(), &out, df.SDKKey, df.Client, user, keys, opts, uc, &im, enabledOnly)
	out.b = append(out.b, '\n')
	out.flushOver(0)
	buf.b = out.b
}

// options returns the request's decide options, and refuses what
// stickybucket does not do (ODP segments) and more forced decisions than
// decision.MaxForcedDecisions (400).
func (b *decideBody) options() ([]decision.Option, error) {
	if n := len(b.ForcedDecisions); n > decision.MaxForcedDecisions {
		return nil, badRequest(fmt.Errorf("forcedDecisions: %d entries, over the limit of %d: force fewer flags and rules per request", n, decision.MaxForcedDecisions))
	}
	if b.FetchSegments {
		return nil, badRequest(errors.New("fetchSegments is not supported by stickybucket: it has no ODP integration"))
	}
	return decideOptions(b.DecideOptions)
}

// forced returns the body's forced decisions for decision.User (nil for
// none).
func (b *decideBody) forced() []decision.ForcedDecision {
	if len(b.ForcedDecisions) == 0 {
		return nil
	}
	out := make([]decision.ForcedDecision, len(b.ForcedDecisions))
	for i, fd := range b.ForcedDecisions {
		out[i] = decision.ForcedDecision{FlagKey: fd.FlagKey, RuleKey: fd.RuleKey, VariationKey: fd.VariationKey}
	}
	return out
}

// decideInto decides keys (every flag when there are none) and builds the
// answer in out, each decision echoing the user context uc: one object for
// one key, an array otherwise, written in chunks as it grows. im queues
// the impressions of the flags the datafile has, and each of them is
// notified to sdkKey's notification subscribers, if any; enabledOnly
// leaves disabled flags out of an array.
func (a *api) decideInto(ctx context.Context, out *stream, sdkKey string, client *decision.Client, user decision.User, keys []string, opts []decision.Option, uc []byte, im *impressions, enabledOnly bool) {
	var span trace.Span
	if a.decisionTraced(ctx) {
		ctx, span = a.startDecision(ctx, "flag", keys, opts, enabledOnly, user.ID)
	}
	if len(keys) == 1 {
		d, err := client.Decide(ctx, user, keys[0], opts...)
		endDecision(span, 1, d.Profile, err)
		a.opts.Metrics.decided("flag", 1, err)
		a.opts.Metrics.profiled(d.Profile)
		a.decided(sdkKey, client, &user, &d, im)
		out.b = appendFlagDecision(out.b, &d, uc)
		return
	}
	var (
		ds    map[string]decision.FlagDecision
		order []string
		err   error
	)
	if len(keys) == 0 {
		ds, err = client.DecideAll(ctx, user, opts...)
		order = client.Datafile().FlagKeys()
	} else {
		ds, err = client.DecideForKeys(ctx, user, keys, opts...)
		order = keys
	}
	if span != nil {
		endDecision(span, len(ds), profileUseOf(ds), err)
	}
	a.opts.Metrics.decided("flag", len(ds), err)
	out.b = append(out.b, '[')
	first := true
	for _, k := range order {
		d, ok := ds[k]
		if !ok {
			continue
		}
		a.decided(sdkKey, client, &user, &d, im)
		if enabledOnly && !d.Enabled {
			continue
		}
		a.opts.Metrics.profiled(d.Profile)
		if !first {
			out.b = append(out.b, ',')
		}
		first = false
		out.b = appendFlagDecision(out.b, &d, uc)
		out.flushOver(streamChunk)
	}
	out.b = append(out.b, ']')
}

// decided queues the impression of d and notifies it, when the datafile
// has its flag (the SDKs neither send nor notify an unknown flag's).
// Without events or subscribers it costs nothing.
func (a *api) decided(sdkKey string, client *decision.Client, user *decision.User, d *decision.FlagDecision, im *impressions) {
	notify := a.opts.Notifications.on()
	if !im.on() && !notify {
		return
	}
	if !client.Datafile().HasFlag(d.FlagKey) {
		return
	}
	dispatched := im.flag(d)
	if notify {
		a.notifyFlag(sdkKey, user, d, dispatched)
	}
}

// decisionOverhead bounds the bytes of a decision besides its user
// context (keys, reasons and variables of a real flag are far smaller),
// for the estimate of an answer's size.
const decisionOverhead = 512

// streamChunk is how much of an answer is built before it is written.
const streamChunk = 32 << 10

// stream writes an answer in chunks: status 200 and the JSON type before
// the first one. A client that stops reading is cut off by the server's
// write timeout.
type stream struct {
	w       http.ResponseWriter
	b       []byte
	started bool
}

// flushOver writes what is built once it is over n bytes.
func (s *stream) flushOver(n int) {
	if len(s.b) <= n {
		return
	}
	if !s.started {
		s.w.Header()["Content-Type"] = jsonContentType
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	_, _ = s.w.Write(s.b)
	s.b = s.b[:0]
}

// uniqueKeys drops repeated keys, keeping the first of each: a key asked
// for twice is answered once.
func uniqueKeys(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// appendUserContext writes a decision's userContext, {"userId",
// "attributes"}, as Agent echoes it.
func appendUserContext(b []byte, body *decideBody) []byte {
	b = append(b, `{"userId":`...)
	b = appendString(b, body.UserID)
	b = append(b, `,"attributes":`...)
	if body.UserAttributes == nil {
		b = append(b, "{}"...)
	} else {
		b = appendValue(b, body.UserAttributes)
	}
	return append(b, '}')
}

// appendFlagDecision writes one decision with Agent's field names and
// order: OptimizelyDecision's fields, then variables (left out when
// empty) and isEveryoneElseVariation.
func appendFlagDecision(b []byte, d *decision.FlagDecision, userContext []byte) []byte {
	b = append(b, `{"variationKey":`...)
	b = appendString(b, d.VariationKey)
	b = append(b, `,"enabled":`...)
	if d.Enabled {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"ruleKey":`...)
	b = appendString(b, d.RuleKey)
	b = append(b, `,"flagKey":`...)
	b = appendString(b, d.FlagKey)
	b = append(b, `,"userContext":`...)
	b = append(b, userContext...)
	b = append(b, `,"reasons":`...)
	b = appendStrings(b, d.Reasons)
	if d.Variables.Len() > 0 {
		b = append(b, `,"variables":`...)
		b = appendVariables(b, d.Variables)
	}
	b = append(b, `,"isEveryoneElseVariation":`...)
	if d.EveryoneElse {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	return append(b, '}')
}

// appendVariables writes a decision's variables as a JSON object, keys
// sorted as encoding/json sorts a map's.
func appendVariables(b []byte, vars decision.Variables) []byte {
	var keys [32]string
	sorted := keys[:0]
	for k := range vars.All() {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	b = append(b, '{')
	for i, k := range sorted {
		if i > 0 {
			b = append(b, ',')
		}
		v, _ := vars.Get(k)
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	return append(b, '}')
}

// jsonKind names the JSON a Go kind takes.
func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// queryValues returns the values of name in a raw query string, in order,
// without building the map url.Values would: a decide request names a key
// or two.
func queryValues(rawQuery, name string) ([]string, error) {
	var out []string
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if strings.ContainsAny(k, "%+") {
				if dk, err := url.QueryUnescape(k); err == nil && dk == name {
					k = dk
				}
			}
			if k != name {
				continue
			}
		}
		if strings.ContainsAny(v, "%+") {
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return nil, fmt.Errorf("query parameter %s: %w", name, err)
			}
			v = dv
		}
		out = append(out, v)
	}
	return out, nil
}
