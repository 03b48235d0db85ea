package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/decision"
)

// activateBody is Agent's activate request.
type activateBody struct {
	UserID         string         `json:"userId"`
	UserAttributes map[string]any `json:"userAttributes"`
}

func (b *activateBody) user() string { return b.UserID }

const (
	kindExperiment = "experiment"
	kindFeature    = "feature"
)

// activation is one entry of the request: a key and what it names.
type activation struct {
	key, kind string
	unknown   bool
}

// activate serves Agent's POST /v1/activate: experiments and features
// named by experimentKey, featureKey (both repeatable) or every one of a
// type (type=experiment|feature), decided for the user. Unknown keys come
// back with an error field, as Agent answers them; enabled=true|false
// filters the result. Each activation that served a variation queues its
// impression, as Agent's does, unless disableTracking=true.
func (a *api) activate(w http.ResponseWriter, r *http.Request) {
	df, err := a.datafileFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	var body activateBody
	if err := a.readUserBody(w, r, buf, &body); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	todo, err := activations(df.Client.Datafile(), q)
	if err != nil {
		writeError(w, err)
		return
	}
	filter := q.Get("enabled")
	user := decision.User{ID: body.UserID, Attributes: body.UserAttributes}
	im := a.impressionsFor(df, user, q.Get("disableTracking") == "true")

	out := buf.b[:0]
	out = append(out, '[')
	first := true
	for _, t := range todo {
		res := a.activateOne(r.Context(), df.SDKKey, df.Client, user, t, &im)
		if (filter == "true" && !res.enabled) || (filter == "false" && res.enabled) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = res.appendJSON(out)
	}
	out = append(out, ']', '\n')
	buf.b = out
	writeJSONBytes(w, http.StatusOK, out)
}

// activations lists what the query names, each once, in the order named:
// every experiment or feature of a type, then experimentKey and
// featureKey entries (unknown ones marked so).
func activations(dfile *decision.Datafile, q url.Values) ([]activation, error) {
	var todo []activation
	seen := map[string]bool{}
	add := func(key, kind string, known bool) {
		if seen[kind+"\x00"+key] {
			return
		}
		seen[kind+"\x00"+key] = true
		todo = append(todo, activation{key: key, kind: kind, unknown: !known})
	}
	for _, typ := range q["type"] {
		switch typ {
		case kindExperiment:
			for _, k := range dfile.ExperimentKeys() {
				add(k, kindExperiment, true)
			}
		case kindFeature:
			for _, k := range dfile.FlagKeys() {
				add(k, kindFeature, true)
			}
		default:
			return nil, badRequest(fmt.Errorf("type %q not supported", cut(typ, 64)))
		}
	}
	for _, k := range q["experimentKey"] {
		add(k, kindExperiment, dfile.HasExperiment(k))
	}
	for _, k := range q["featureKey"] {
		add(k, kindFeature, dfile.HasFlag(k))
	}
	return todo, nil
}

// activateOne decides one activation for user, or says its key is
// unknown, queues its impression with im and notifies sdkKey's
// subscribers of it, as the SDK calls Agent's activate makes notify
// theirs (with or without disableTracking).
func (a *api) activateOne(ctx context.Context, sdkKey string, client *decision.Client, user decision.User, t activation, im *impressions) activated {
	var res activated
	res.userID, res.kind = user.ID, t.kind
	switch {
	case t.unknown && t.kind == kindExperiment:
		res.experimentKey, res.err = t.key, "experimentKey not found"
		res.kind = ""
	case t.unknown:
		res.featureKey, res.err = t.key, "featureKey not found"
		res.kind = ""
	case t.kind == kindExperiment:
		dctx, span := ctx, trace.Span(nil)
		if a.decisionTraced(ctx) {
			dctx, span = a.startDecision(ctx, "experiment", []string{t.key}, nil, false, user.ID)
		}
		d, err := client.DecideExperiment(dctx, user, t.key)
		endDecision(span, 1, d.Profile, err)
		a.opts.Metrics.decided("experiment", 1, err)
		a.opts.Metrics.profiled(d.Profile)
		res.experimentKey, res.variationKey, res.enabled = t.key, d.VariationKey, d.VariationKey != ""
		im.experiment(&d)
		if a.opts.Notifications.on() {
			a.notifyExperiment(sdkKey, &user, &d, client.Datafile().FeatureExperiment(t.key))
		}
	default:
		dctx, span := ctx, trace.Span(nil)
		if a.decisionTraced(ctx) {
			dctx, span = a.startDecision(ctx, "flag", []string{t.key}, nil, false, user.ID)
		}
		d, err := client.Decide(dctx, user, t.key)
		endDecision(span, 1, d.Profile, err)
		a.opts.Metrics.decided("flag", 1, err)
		a.opts.Metrics.profiled(d.Profile)
		res.featureKey, res.enabled, res.variables = t.key, d.Enabled, d.Variables
		if d.VariationID != "" {
			// Agent's activate sends a feature's impression only when a
			// variation was served (a rollout's with sendFlagDecisions).
			im.flag(&d)
		}
		if d.Source == decision.SourceFeatureTest {
			res.experimentKey, res.variationKey = d.RuleKey, d.VariationKey
		}
		if a.opts.Notifications.on() {
			a.notifyFeature(sdkKey, &user, &d)
		}
	}
	return res
}

// activated is one answer of /v1/activate, in Agent's shape.
type activated struct {
	userID, experimentKey, featureKey, variationKey, kind, err string
	enabled                                                    bool
	variables                                                  decision.Variables
}

func (r *activated) appendJSON(b []byte) []byte {
	b = append(b, `{"userId":`...)
	b = appendString(b, r.userID)
	b = append(b, `,"experimentKey":`...)
	b = appendString(b, r.experimentKey)
	b = append(b, `,"featureKey":`...)
	b = appendString(b, r.featureKey)
	b = append(b, `,"variationKey":`...)
	b = appendString(b, r.variationKey)
	b = append(b, `,"type":`...)
	b = appendString(b, r.kind)
	if r.variables.Len() > 0 {
		b = append(b, `,"variables":`...)
		b = appendVariables(b, r.variables)
	}
	b = append(b, `,"enabled":`...)
	if r.enabled {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	if r.err != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, r.err)
	}
	return append(b, '}')
}
