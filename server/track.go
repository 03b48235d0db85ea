package server

import (
	"errors"
	"fmt"
	"net/http"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/stickybucket/stickybucket/events"
)

// trackBody is Agent's track request.
type trackBody struct {
	UserID         string         `json:"userId"`
	UserAttributes map[string]any `json:"userAttributes"`
	EventTags      map[string]any `json:"eventTags"`
}

// errMissingEventKey is Agent's answer to a track without eventKey, word
// for word.
var errMissingEventKey = errors.New("missing required path parameter: eventKey")

// track serves Agent's POST /v1/track?eventKey=K: it queues the
// conversion of the event K for the user, with its tags, and answers
// {"userId", "eventKey"}, or, for a key the datafile does not declare,
// 200 with Agent's error field (nothing is sent). Checked in Agent's
// order: the body, then the key; then, beyond Agent, the user (an event
// without a visitor cannot be counted).
func (a *api) track(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	data, err := readBody(w, r, buf, a.maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	var body trackBody
	if len(data) > 0 {
		if err := jsonv2.Unmarshal(data, &body, jsonOptions); err != nil {
			writeError(w, badRequest(fmt.Errorf("%w: %s", errParseBody, describeJSONError(err))))
			return
		}
	}
	keys, err := queryValues(r.URL.RawQuery, "eventKey")
	if err != nil {
		writeError(w, badRequest(err))
		return
	}
	if len(keys) == 0 || keys[0] == "" {
		writeError(w, badRequest(errMissingEventKey))
		return
	}
	key := keys[0]
	if body.UserID == "" {
		writeError(w, badRequest(errEmptyUserID))
		return
	}
	known := false
	if df.Events != nil {
		_, known = df.Events.EventID(key)
	}
	if known {
		u := events.User{ID: body.UserID, Attributes: body.UserAttributes}
		queued := a.opts.Events.Conversion(df.Events, u, key, body.EventTags)
		// The SDK notifies a conversion its processor took: with events
		// off, every conversion of a known event (nothing is dropped).
		if a.opts.Notifications.on() && (queued || a.opts.Events == nil) {
			a.notifyTrack(df.SDKKey, df.Events, u, key, body.EventTags)
		}
	}
	b := append(buf.b[:0], `{"userId":`...)
	b = appendString(b, body.UserID)
	b = append(b, `,"eventKey":`...)
	b = appendString(b, key)
	if !known {
		// The SDK's error, which Agent passes on: the key in plain quotes.
		b = append(b, `,"error":`...)
		b = appendString(b, `event with key "`+key+`" not found`)
	}
	b = append(b, "}\n"...)
	buf.b = b
	writeJSONBytes(w, http.StatusOK, b)
}
