package decision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// The clients of clients/ (Python, Node, Java) prove stickiness with the
// official SDKs on datafiles this generator writes: each fixture is a
// datafile, a changed datafile, users and the flags to decide. The files
// are kept in the repository so the clients' tests need no Go; this test
// fails when they no longer match the generator, and
//
//	go test ./decision -run TestSDKFixtures -update-sdk-fixtures
//
// writes them again.
var updateSDKFixtures = flag.Bool("update-sdk-fixtures", false, "rewrite clients/testdata/sticky from the generator")

const sdkFixtureDir = "../clients/testdata/sticky"

// sdkFixture is one file of clients/testdata/sticky.
type sdkFixture struct {
	About      string       `json:"about"`
	Seed       uint64       `json:"seed"`
	Changes    []string     `json:"changes"`
	DatafileV1 *genDatafile `json:"datafile_v1"`
	DatafileV2 *genDatafile `json:"datafile_v2"`
	Users      []sdkUser    `json:"users"`
	// FlagsV1 and FlagsV2 are the flag keys of each datafile, decided for
	// every user in that phase.
	FlagsV1 []string `json:"flags_v1"`
	FlagsV2 []string `json:"flags_v2"`
	// ExperimentsV1 and ExperimentsV2 are the experiment keys (flag
	// experiments and plain A/B tests, not rollout rules), for the SDKs'
	// legacy activate / get_variation.
	ExperimentsV1 []string `json:"experiments_v1"`
	ExperimentsV2 []string `json:"experiments_v2"`
}

type sdkUser struct {
	UserID     string         `json:"user_id"`
	Attributes map[string]any `json:"attributes"`
}

// sdkFixtureSeeds are the generator seeds of the fixtures: the first six
// from 101 on whose fixture proves something (see profilesMatter).
var sdkFixtureSeeds = []uint64{104, 108, 109, 112, 118, 121}

func TestSDKFixtures(t *testing.T) {
	for _, seed := range sdkFixtureSeeds {
		if n := profilesMatter(t, sdkFixtureFile(seed)); n < minProfileDifferences {
			t.Errorf("seed %d: profiles change only %d decisions of phase 2 (want %d): pick another seed", seed, n, minProfileDifferences)
		}
		name := fmt.Sprintf("seed-%d.json", seed)
		want := sdkFixtureFile(seed)
		path := filepath.Join(sdkFixtureDir, name)
		if *updateSDKFixtures {
			if err := os.MkdirAll(sdkFixtureDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run: go test ./decision -run TestSDKFixtures -update-sdk-fixtures)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator writes now; run: go test ./decision -run TestSDKFixtures -update-sdk-fixtures", path)
		}
	}
}

// minProfileDifferences is how many phase-2 flag decisions of a fixture
// must differ with and without the profiles of phase 1, so that a client
// that ignored its profile service could not pass.
const minProfileDifferences = 5

// profilesMatter decides the fixture with this package's client, as the
// clients' tests do with the SDKs (every flag of v1 for every user, then
// every flag of v2 with the same profiles), and returns how many phase-2
// decisions differ from v2 decided without profiles.
func profilesMatter(t *testing.T, raw []byte) int {
	t.Helper()
	var fx struct {
		DatafileV1 json.RawMessage `json:"datafile_v1"`
		DatafileV2 json.RawMessage `json:"datafile_v2"`
		Users      []sdkUser       `json:"users"`
		FlagsV1    []string        `json:"flags_v1"`
		FlagsV2    []string        `json:"flags_v2"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := func(df json.RawMessage, profiles ups.Service) *decision.Client {
		d, err := decision.ParseDatafile(df)
		if err != nil {
			t.Fatal(err)
		}
		c, err := decision.NewClient(decision.Options{Datafile: d, Profiles: profiles})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	v1 := client(fx.DatafileV1, store)
	for _, u := range fx.Users {
		for _, f := range fx.FlagsV1 {
			_, _ = v1.Decide(ctx, decision.User{ID: u.UserID, Attributes: u.Attributes}, f)
		}
	}
	sticky, fresh := client(fx.DatafileV2, store), client(fx.DatafileV2, nil)
	n := 0
	for _, u := range fx.Users {
		for _, f := range fx.FlagsV2 {
			user := decision.User{ID: u.UserID, Attributes: u.Attributes}
			a, _ := sticky.Decide(ctx, user, f)
			b, _ := fresh.Decide(ctx, user, f)
			if a.VariationKey != b.VariationKey || a.Enabled != b.Enabled || a.RuleKey != b.RuleKey {
				n++
			}
		}
	}
	return n
}

// sdkFixtureFile generates the fixture of seed: a datafile with audiences,
// groups, flags and rollouts, the same after the generator's edits
// (traffic moved, variations removed and added, experiments paused,
// audiences changed), and 40 users.
func sdkFixtureFile(seed uint64) []byte {
	g := newGen(seed)
	users := g.users(40)
	df := g.datafile()
	mutated, changes := g.mutate(df)
	// The SDKs' datafile schemas want arrays where Go's JSON writes null
	// for an empty slice (the Python SDK rejects "groups": null).
	for _, d := range []*genDatafile{df, mutated} {
		nonNil(&d.Attributes)
		nonNil(&d.Audiences)
		nonNil(&d.TypedAudiences)
		nonNil(&d.Experiments)
		nonNil(&d.Groups)
		nonNil(&d.FeatureFlags)
		nonNil(&d.Rollouts)
		nonNil(&d.Events)
		nonNil(&d.Integrations)
	}
	fx := sdkFixture{
		About:      "Generated by decision/sdkfixtures_test.go; the clients' sticky tests decide every flag (and activate every experiment) of datafile_v1 for every user, then those of datafile_v2 with the same profiles.",
		Seed:       seed,
		Changes:    changes,
		DatafileV1: df,
		DatafileV2: mutated,
	}
	for _, f := range df.FeatureFlags {
		fx.FlagsV1 = append(fx.FlagsV1, f.Key)
	}
	for _, f := range mutated.FeatureFlags {
		fx.FlagsV2 = append(fx.FlagsV2, f.Key)
	}
	for _, e := range df.allExperiments() {
		fx.ExperimentsV1 = append(fx.ExperimentsV1, e.Key)
	}
	for _, e := range mutated.allExperiments() {
		fx.ExperimentsV2 = append(fx.ExperimentsV2, e.Key)
	}
	for _, u := range users {
		fx.Users = append(fx.Users, sdkUser{UserID: u.ID, Attributes: jsonSafe(u.Attrs)})
	}
	b, err := json.MarshalIndent(fx, "", " ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func nonNil[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}

// jsonSafe drops the values JSON cannot carry (NaN, infinities), which the
// generator makes for the Go-only differential test.
func jsonSafe(attrs map[string]any) map[string]any {
	if attrs == nil {
		return nil
	}
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		out[k] = v
	}
	return out
}
