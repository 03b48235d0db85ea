package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/decide"
	sdkdecision "github.com/optimizely/go-sdk/v2/pkg/decision"
	"github.com/optimizely/go-sdk/v2/pkg/entities"
	"github.com/optimizely/go-sdk/v2/pkg/notification"

	"github.com/stickybucket/stickybucket/internal/officialsdk"
)

// TestNotificationsMatchTheOfficialSDK sends requests to serve with a
// stream open, makes the calls Agent's handlers make for the same
// requests on the official Go SDK in process, with listeners on its
// notification center, and compares each message with what the SDK's
// notification marshals to (as Agent's stream writes it). The SDK in
// go.mod (v2.0.0) predates the experimentId and variationId of the flag
// notification that the SDK Agent links (v2.3.1) adds: they are checked
// against the decision's IDs here, and against Agent itself in
// TestNotificationsSideBySideWithAgent. Messages are compared as
// multisets where Agent's order is a Go map's (decide for all flags,
// activate).
func TestNotificationsMatchTheOfficialSDK(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, true)
	sdk := officialsdk.Client(t, s.raw, nil)
	rec := &notificationRecorder{}
	nc := sdk.GetNotificationCenter()
	for _, typ := range []notification.Type{notification.Decision, notification.Track} {
		id, err := nc.AddHandler(typ, func(payload any) {
			b, err := json.Marshal(payload)
			if err != nil {
				t.Errorf("marshal the SDK's notification: %v", err)
				return
			}
			rec.mu.Lock()
			rec.msgs = append(rec.msgs, normalizeNotification(t, b))
			rec.mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.RemoveHandler(id, typ) })
	}
	st, _ := openStream(t, s.url, "")

	attrs := `{"country":"de","plan":"pro","app_version":"3.2.0","$opt_x":"y","unknown":1}`
	// body decodes a request body as Agent does (encoding/json).
	body := func(js string) (id string, attributes, tags map[string]any) {
		var b struct {
			UserID         string         `json:"userId"`
			UserAttributes map[string]any `json:"userAttributes"`
			EventTags      map[string]any `json:"eventTags"`
		}
		if err := json.Unmarshal([]byte(js), &b); err != nil {
			t.Fatal(err)
		}
		return b.UserID, b.UserAttributes, b.EventTags
	}
	userContext := func(js string) entities.UserContext {
		id, a, _ := body(js)
		return entities.UserContext{ID: id, Attributes: a}
	}
	decideCtx := func(js string) *client.OptimizelyUserContext {
		id, a, _ := body(js)
		uc := sdk.CreateUserContext(id, a)
		return &uc
	}

	cases := []struct {
		name, url, body string
		agent           func(js string) // the SDK calls Agent's handler makes
		ordered         bool
	}{
		{"decide one flag, with reasons", "/v1/decide?keys=new_search",
			`{"userId":"u1","userAttributes":` + attrs + `,"decideOptions":["INCLUDE_REASONS"]}`,
			func(js string) {
				decideCtx(js).Decide("new_search", []decide.OptimizelyDecideOptions{decide.IncludeReasons})
			}, true},
		{"decide every flag, no attributes", "/v1/decide", `{"userId":"u2"}`,
			func(js string) { decideCtx(js).DecideAll(nil) }, false},
		{"decide keys with options", "/v1/decide?keys=new_search&keys=dark_mode&keys=nope",
			`{"userId":"u3","userAttributes":{"plan":"pro","app_version":"3.1.0"},"decideOptions":["EXCLUDE_VARIABLES","DISABLE_DECISION_EVENT","ENABLED_FLAGS_ONLY"]}`,
			func(js string) {
				decideCtx(js).DecideForKeys([]string{"new_search", "dark_mode", "nope"}, []decide.OptimizelyDecideOptions{decide.ExcludeVariables, decide.DisableDecisionEvent, decide.EnabledFlagsOnly})
			}, false},
		{"decide every flag, enabled only", "/v1/decide", `{"userId":"u4","decideOptions":["ENABLED_FLAGS_ONLY"]}`,
			func(js string) { decideCtx(js).DecideAll([]decide.OptimizelyDecideOptions{decide.EnabledFlagsOnly}) }, false},
		{"decide a forced flag", "/v1/decide?keys=new_search",
			`{"userId":"u5","decideOptions":["INCLUDE_REASONS"],"forcedDecisions":[{"flagKey":"new_search","variationKey":"semantic"}]}`,
			func(js string) {
				uc := decideCtx(js)
				uc.SetForcedDecision(sdkdecision.OptimizelyDecisionContext{FlagKey: "new_search"}, sdkdecision.OptimizelyForcedDecision{VariationKey: "semantic"})
				uc.Decide("new_search", []decide.OptimizelyDecideOptions{decide.IncludeReasons})
			}, true},
		{"activate experiments", "/v1/activate?experimentKey=checkout_button&experimentKey=search_experiment&experimentKey=pricing_page",
			`{"userId":"u6","userAttributes":{"country":"fr"}}`,
			func(js string) {
				for _, k := range []string{"checkout_button", "search_experiment", "pricing_page"} {
					_, _ = sdk.Activate(k, userContext(js))
				}
			}, false},
		{"activate an experiment, not tracked, outside its audience", "/v1/activate?experimentKey=pricing_page&disableTracking=true",
			`{"userId":"u7","userAttributes":{"country":"us"}}`,
			func(js string) { _, _ = sdk.GetVariation("pricing_page", userContext(js)) }, true},
		{"activate features", "/v1/activate?featureKey=new_search&featureKey=dark_mode",
			`{"userId":"u8","userAttributes":{"plan":"pro","app_version":"3.2.0"}}`,
			func(js string) {
				for _, k := range []string{"new_search", "dark_mode"} {
					_, _ = sdk.GetDetailedFeatureDecisionUnsafe(k, userContext(js), false)
				}
			}, false},
		{"activate every feature, not tracked, no attributes", "/v1/activate?type=feature&disableTracking=true", `{"userId":"u9"}`,
			func(js string) {
				for _, k := range []string{"new_search", "dark_mode"} {
					_, _ = sdk.GetDetailedFeatureDecisionUnsafe(k, userContext(js), true)
				}
			}, false},
		{"track with attributes and tags", "/v1/track?eventKey=purchase",
			`{"userId":"u10","userAttributes":` + attrs + `,"eventTags":{"revenue":1299.9,"value":"3.5","category":"shoes","n":2}}`,
			func(js string) {
				id, a, tags := body(js)
				_ = sdk.Track("purchase", entities.UserContext{ID: id, Attributes: a}, tags)
			}, true},
		{"track with numbers as tags", "/v1/track?eventKey=purchase",
			`{"userId":"u11","eventTags":{"revenue":42,"value":0.5}}`,
			func(js string) {
				id, a, tags := body(js)
				_ = sdk.Track("purchase", entities.UserContext{ID: id, Attributes: a}, tags)
			}, true},
		{"track, nothing else", "/v1/track?eventKey=purchase", `{"userId":"u12"}`,
			func(js string) {
				id, a, tags := body(js)
				_ = sdk.Track("purchase", entities.UserContext{ID: id, Attributes: a}, tags)
			}, true},
		{"track an unknown event", "/v1/track?eventKey=nope", `{"userId":"u13"}`,
			func(js string) {
				id, a, tags := body(js)
				_ = sdk.Track("nope", entities.UserContext{ID: id, Attributes: a}, tags)
			}, true},
	}
	total := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.agent(c.body)
			want := rec.take()
			post(t, s.url+c.url, c.body)
			got := make([]map[string]any, len(want))
			for i := range want {
				got[i] = normalizeNotification(t, []byte(st.next(t)))
				checkNewerFlagFields(t, got[i])
			}
			sentinel(t, s, st) // and nothing more came
			total += len(want)
			if c.ordered {
				if len(got)+len(want) > 0 && !eq(got, want) {
					t.Errorf("serve:\n%s\nthe SDK:\n%s", sortedJSON(t, got), sortedJSON(t, want))
				}
				return
			}
			if g, w := sortedJSON(t, got), sortedJSON(t, want); !eq(g, w) {
				t.Errorf("serve:\n%s\nthe SDK:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		})
	}
	if total < 15 {
		t.Errorf("only %d notifications compared", total)
	}
}

// checkNewerFlagFields removes the flag notification's experimentId and
// variationId, which the SDK in go.mod does not send, after checking they
// are the IDs the datafile gives the decision's rule and variation.
func checkNewerFlagFields(t *testing.T, m map[string]any) {
	t.Helper()
	if m["Type"] != "flag" {
		return
	}
	info := m["DecisionInfo"].(map[string]any)
	exp, ok1 := info["experimentId"].(string)
	varID, ok2 := info["variationId"].(string)
	if !ok1 || !ok2 {
		t.Errorf("flag notification without experimentId and variationId: %v", info)
	}
	// datafile v1's rules and variations: key → ID
	rules := map[string]string{"search_experiment": "3003", "everyone_else_search": "7001", "paying_recent_app": "7002", "everyone_else_dark": "7003"}
	variations := map[string]string{"classic": "4005", "semantic": "4006", "off": "4007", "on": "4008|4009"}
	rk, _ := info["ruleKey"].(string)
	if rules[rk] != exp {
		t.Errorf("rule %q: experimentId %q, want %q", rk, exp, rules[rk])
	}
	vk, _ := info["variationKey"].(string)
	if w := variations[vk]; w != varID && !strings.Contains(w, "|") || strings.Contains(w, "|") && !strings.Contains(w, varID) {
		t.Errorf("variation %q: variationId %q, want %q", vk, varID, w)
	}
	delete(info, "experimentId")
	delete(info, "variationId")
}
