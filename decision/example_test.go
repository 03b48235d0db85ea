package decision_test

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

const exampleDatafile = `{
  "version": "4",
  "revision": "42",
  "typedAudiences": [
    {"id": "101", "name": "US", "conditions": ["and", {"type": "custom_attribute", "name": "country", "match": "exact", "value": "us"}]}
  ],
  "experiments": [{
    "id": "1000", "key": "checkout_test", "status": "Running", "audienceIds": ["101"],
    "variations": [
      {"id": "1001", "key": "control", "featureEnabled": false},
      {"id": "1002", "key": "treatment", "featureEnabled": true, "variables": [{"id": "21", "value": "Buy now"}]}
    ],
    "trafficAllocation": [{"entityId": "1002", "endOfRange": 10000}],
    "forcedVariations": {"qa-user": "control"}
  }],
  "featureFlags": [{
    "id": "2000", "key": "new_checkout", "rolloutId": "", "experimentIds": ["1000"],
    "variables": [{"id": "21", "key": "button_text", "type": "string", "defaultValue": "Checkout"}]
  }]
}`

// exampleStore is a minimal ups.Service keeping profiles in a map.
type exampleStore map[string]map[string]string

func (s exampleStore) Lookup(_ context.Context, userID string) (ups.Profile, error) {
	p := ups.NewProfile(userID)
	for exp, v := range s[userID] {
		p.Set(exp, v)
	}
	return p, nil
}

func (s exampleStore) Save(_ context.Context, p ups.Profile) error {
	if s[p.UserID] == nil {
		s[p.UserID] = map[string]string{}
	}
	for exp, a := range p.Assignments {
		s[p.UserID][exp] = a.VariationID
	}
	return nil
}

func ExampleClient_Decide() {
	df, err := decision.ParseDatafile([]byte(exampleDatafile))
	if err != nil {
		panic(err)
	}
	store := exampleStore{}
	client, err := decision.NewClient(decision.Options{Datafile: df, Profiles: store})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	user := decision.User{ID: "user-1", Attributes: map[string]any{"country": "us"}}

	d, err := client.Decide(ctx, user, "new_checkout")
	if err != nil {
		panic(err) // only a profile store failure; d would still be valid
	}
	buttonText, _ := d.Variables.Get("button_text")
	fmt.Println(d.FlagKey, d.Enabled, d.VariationKey, d.RuleKey, buttonText)
	fmt.Println("saved:", store["user-1"])

	// The saved assignment is served before audiences: the user keeps it
	// after moving abroad.
	user.Attributes["country"] = "fr"
	e, _ := client.DecideExperiment(ctx, user, "checkout_test")
	fmt.Println(e.ExperimentKey, e.VariationKey)

	// Whitelisted users are never saved.
	e, _ = client.DecideExperiment(ctx, decision.User{ID: "qa-user"}, "checkout_test")
	fmt.Println(e.VariationKey, slices.Sorted(maps.Keys(store)))
	// Output:
	// new_checkout true treatment checkout_test Buy now
	// saved: map[1000:1002]
	// checkout_test treatment
	// control [user-1]
}

func ExampleParseDatafile() {
	_, err := decision.ParseDatafile([]byte(`{
	  "version": "4",
	  "experiments": [{"id": "1", "key": "exp", "status": "Running",
	    "variations": [{"id": "2", "key": "a"}],
	    "trafficAllocation": [{"entityId": "2", "endOfRange": 5000}, {"entityId": "3", "endOfRange": 10000}]}],
	  "featureFlags": [{"id": "9", "key": "flag", "rolloutId": "404", "experimentIds": ["1"]}]
	}`))
	fmt.Println(err)
	// Output:
	// decision: invalid datafile: experiments[0] "exp": trafficAllocation[1]: unknown variation "3"; featureFlags[0] "flag": rolloutId: unknown rollout "404"
}

func ExampleParseOption() {
	o, err := decision.ParseOption("ENABLED_FLAGS_ONLY")
	fmt.Println(o, err)
	_, err = decision.ParseOption("ENABLE_EVERYTHING")
	fmt.Println(err)
	// Output:
	// ENABLED_FLAGS_ONLY <nil>
	// decision: unknown decide option "ENABLE_EVERYTHING"
}
