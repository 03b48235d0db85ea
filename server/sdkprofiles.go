package server

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/stickybucket/stickybucket/sdkprofiles"
	"github.com/stickybucket/stickybucket/ups"
)

// The /v1/ups routes speak the profile schema of Optimizely's SDKs
// ({"user_id", "experiment_bucket_map": {id: {"variation_id"}}}), so an
// SDK's own UserProfileService, or Agent's rest plugin, can use them as
// they are. /v1/lookup and /v1/save keep Agent's camelCase.

// errEmptySDKUserID is the SDK routes' version of Agent's message.
var errEmptySDKUserID = errors.New(`missing "user_id" in request payload`)

type sdkLookupBody struct {
	UserID string `json:"user_id"`
}

type sdkSaveBody struct {
	UserID              string                    `json:"user_id"`
	ExperimentBucketMap map[string]sdkBucketEntry `json:"experiment_bucket_map"`
}

type sdkBucketEntry struct {
	VariationID *string `json:"variation_id"`
}

// sdkJSONOptions match the SDKs' field names exactly (Agent's routes match
// any case, as encoding/json does, which would also take "userId" for
// "user_id"); a repeated name is accepted, the last one winning.
var sdkJSONOptions = jsontext.AllowDuplicateNames(true)

// parseSDKBody decodes a body of the SDK routes.
func parseSDKBody(data []byte, into any) error {
	if len(data) == 0 {
		return badRequest(errEmptySDKUserID)
	}
	if err := jsonv2.Unmarshal(data, into, sdkJSONOptions); err != nil {
		return badRequest(fmt.Errorf("%w: %s", errParseBody, describeJSONError(err)))
	}
	return nil
}

// sdkLookup serves POST /v1/ups/lookup {"user_id"} and GET
// /v1/ups/lookup?user_id=…: the user's profile in the SDKs' schema, an
// empty map for an unknown user.
func (a *api) sdkLookup(w http.ResponseWriter, r *http.Request) {
	buf := getBuffer()
	defer putBuffer(buf)
	var userID string
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, badRequest(fmt.Errorf("query string: %w", err)))
			return
		}
		userID = q.Get("user_id")
	} else {
		var body sdkLookupBody
		data, err := readBody(w, r, buf, a.maxBody)
		if err == nil {
			err = parseSDKBody(data, &body)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		userID = body.UserID
	}
	if userID == "" {
		writeError(w, badRequest(errEmptySDKUserID))
		return
	}
	if err := ups.ValidateUserID(userID); err != nil {
		writeError(w, badRequest(err))
		return
	}
	p, err := a.sdk.Lookup(r.Context(), userID)
	if err != nil {
		writeError(w, storeFailed(err))
		return
	}
	buf.b = appendSDKProfile(buf.b[:0], p)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// sdkSave serves POST /v1/ups/save with the shape /v1/ups/lookup answers:
// the whole profile, of which only what changes the store is written.
// ?only_new=true writes only experiments the store holds nothing for
// (what a client sends after its lookup failed). The answer counts the
// entries: {"written", "unchanged", "lost"}.
func (a *api) sdkSave(w http.ResponseWriter, r *http.Request) {
	mode := sdkprofiles.SaveChanged
	if raw := r.URL.Query().Get("only_new"); raw != "" {
		on, err := strconv.ParseBool(raw)
		if err != nil {
			writeError(w, badRequest(fmt.Errorf("only_new must be true or false, not %q", cut(raw, 16))))
			return
		}
		if on {
			mode = sdkprofiles.SaveOnlyNew
		}
	}
	buf := getBuffer()
	defer putBuffer(buf)
	var body sdkSaveBody
	data, err := readBody(w, r, buf, a.maxBody)
	if err == nil {
		err = parseSDKBody(data, &body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if body.UserID == "" {
		writeError(w, badRequest(errEmptySDKUserID))
		return
	}
	p := ups.Profile{UserID: body.UserID, Assignments: make(map[string]ups.Assignment, len(body.ExperimentBucketMap))}
	for expID, e := range body.ExperimentBucketMap {
		if e.VariationID == nil {
			writeError(w, badRequest(fmt.Errorf(`experiment_bucket_map[%q] must be {"variation_id": "<variation id>"}`, cut(expID, 64))))
			return
		}
		p.Assignments[expID] = ups.Assignment{VariationID: *e.VariationID}
	}
	if err := p.Validate(); err != nil {
		writeError(w, badRequest(err))
		return
	}
	res, err := a.sdk.Save(r.Context(), p, mode)
	a.opts.Metrics.sdkSaved(res)
	if err != nil {
		writeError(w, storeFailed(err))
		return
	}
	b := append(buf.b[:0], `{"written":`...)
	b = strconv.AppendInt(b, int64(res.Written), 10)
	b = append(b, `,"unchanged":`...)
	b = strconv.AppendInt(b, int64(res.Unchanged), 10)
	b = append(b, `,"lost":`...)
	b = strconv.AppendInt(b, int64(res.Lost), 10)
	buf.b = append(b, "}\n"...)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// appendSDKProfile writes {"user_id", "experiment_bucket_map"} with
// entries in experiment ID order.
func appendSDKProfile(b []byte, p ups.Profile) []byte {
	b = append(b, `{"user_id":`...)
	b = appendString(b, p.UserID)
	b = append(b, `,"experiment_bucket_map":{`...)
	ids := make([]string, 0, len(p.Assignments))
	ids = slices.AppendSeq(ids, maps.Keys(p.Assignments))
	slices.Sort(ids)
	for i, expID := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, expID)
		b = append(b, `:{"variation_id":`...)
		b = appendString(b, p.Assignments[expID].VariationID)
		b = append(b, '}')
	}
	return append(b, "}}\n"...)
}
