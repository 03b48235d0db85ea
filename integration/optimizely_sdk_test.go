package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/decision"
	"github.com/optimizely/go-sdk/v2/pkg/entities"

	"github.com/stickybucket/stickybucket/internal/officialsdk"
	"github.com/stickybucket/stickybucket/optimizelyups"
	"github.com/stickybucket/stickybucket/ups"
)

// officialClient is an official client offline (internal/officialsdk)
// deciding examples/<datafileName>, over profiles unless it is nil.
func officialClient(t *testing.T, datafileName string, profiles decision.UserProfileService) *client.OptimizelyClient {
	t.Helper()
	datafile, err := os.ReadFile("../examples/" + datafileName)
	if err != nil {
		t.Fatal(err)
	}
	return officialsdk.Client(t, datafile, profiles)
}

// sdkErrors collects what the adapter reports.
type sdkErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *sdkErrors) record(op, userID string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Errorf("%s %s: %w", op, userID, err))
}

func (e *sdkErrors) take() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.errs
	e.errs = nil
	return out
}

func checkoutVariation(t *testing.T, c *client.OptimizelyClient, user string) string {
	t.Helper()
	v, err := c.GetVariation("checkout_button", entities.UserContext{ID: user})
	if err != nil || v == "" {
		t.Fatalf("GetVariation(checkout_button, %s) = %q, %v", user, v, err)
	}
	return v
}

// TestOfficialSDKOverCassandra runs the official Go SDK with the adapter
// over the Cassandra store: users keep their variation when the datafile
// changes, and while the node is paused decisions are still served (fresh
// bucketing, failures reported), with stickiness back once it answers.
func TestOfficialSDKOverCassandra(t *testing.T) {
	ks := keyspace(t, "official_sdk")
	store := newStore(t, env(t, ks, time.Hour, nil))
	var reported sdkErrors
	// Generous timeouts: two cores are shared with the node and other work.
	profiles, err := optimizelyups.New(store, optimizelyups.Options{
		LookupTimeout: 2 * time.Second, SaveTimeout: 2 * time.Second, OnError: reported.record,
	})
	if err != nil {
		t.Fatal(err)
	}

	users := make([]string, 100)
	before := map[string]string{}
	v1 := officialClient(t, "datafile-v1.json", profiles)
	for i := range users {
		users[i] = fmt.Sprintf("sdk-user-%d", i)
		before[users[i]] = checkoutVariation(t, v1, users[i])
	}
	v2 := officialClient(t, "datafile-v2.json", profiles)
	plainV2 := officialClient(t, "datafile-v2.json", nil)
	var movers []string
	for _, u := range users {
		if got := checkoutVariation(t, v2, u); got != before[u] {
			t.Errorf("%s: %s with datafile v1, %s with v2", u, before[u], got)
		}
		if checkoutVariation(t, plainV2, u) != before[u] {
			movers = append(movers, u)
		}
		if n := rowCount(t, ks, u); n != 1 {
			t.Errorf("%s has %d rows, want 1", u, n)
		}
	}
	if len(movers) == 0 {
		t.Fatal("no user moves without the profile service: the datafile change does not test stickiness")
	}
	if errs := reported.take(); len(errs) != 0 {
		t.Fatalf("errors reported with a healthy node: %v", errs)
	}
	t.Logf("%d of %d users kept a variation they would have lost without the store", len(movers), len(users))

	if !cass.Managed() {
		return // an existing cluster: do not pause it
	}
	// A paused node accepts connections and answers nothing: the adapter's
	// timeouts end each call.
	fast, err := optimizelyups.New(store, optimizelyups.Options{
		LookupTimeout: 300 * time.Millisecond, SaveTimeout: 300 * time.Millisecond, OnError: reported.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	duringPause := officialClient(t, "datafile-v2.json", fast)
	if err := cass.Node(0).Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	paused := true
	unpause := func() {
		if err := cass.Node(0).Unpause(context.Background()); err != nil {
			t.Error(err)
		}
		paused = false
	}
	defer func() {
		if paused {
			unpause()
		}
	}()
	mover := movers[0]
	start := time.Now()
	got := checkoutVariation(t, duringPause, mover)
	took := time.Since(start)
	unpause()
	if want := checkoutVariation(t, plainV2, mover); got != want {
		t.Errorf("during the pause %s got %s, want the fresh bucketing %s", mover, got, want)
	}
	if took > 2*time.Second {
		t.Errorf("a decision with the node paused took %v, want about the lookup and save timeouts", took)
	}
	errs := reported.take()
	if len(errs) != 2 {
		t.Fatalf("reported %v, want a failed lookup and a failed save", errs)
	}
	for _, err := range errs {
		if !ups.Unavailable(err) {
			t.Errorf("%v: want an error that counts as unavailable", err)
		}
	}

	// Back up: the assignment saved before the pause wins again.
	deadline := time.Now().Add(time.Minute)
	for {
		got = checkoutVariation(t, v2, mover)
		errs = reported.take()
		if len(errs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // the session reconnects on its own
	}
	if len(errs) != 0 {
		t.Fatalf("still failing a minute after unpause: %v", errors.Join(errs...))
	}
	if got != before[mover] {
		t.Errorf("after the pause %s got %s, want its stored %s", mover, got, before[mover])
	}
}
