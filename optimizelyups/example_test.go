package optimizelyups_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/config"
	"github.com/optimizely/go-sdk/v2/pkg/entities"
	"github.com/optimizely/go-sdk/v2/pkg/logging"

	"github.com/stickybucket/stickybucket/optimizelyups"
	"github.com/stickybucket/stickybucket/ups"
)

// Plug a stickybucket store into the official Optimizely Go SDK. In
// production the store is the Cassandra one (cassandra.Open), usually
// behind ups.NewCache, and the client comes from
// client.OptimizelyFactory{SDKKey: …}; this example decides a local
// datafile with the in-memory store, then decides again after the
// experiment's traffic allocation changed: the user keeps the variation.
func Example() {
	logging.SetLogLevel(logging.LogLevelError) // the SDK logs decisions to stdout at info level

	store, err := ups.NewMemory(ups.MemoryOptions{Retention: ups.Retention{Default: 90 * 24 * time.Hour}})
	if err != nil {
		log.Fatal(err)
	}
	profiles, err := optimizelyups.New(store, optimizelyups.Options{
		LookupTimeout: 50 * time.Millisecond,
		OnError: func(op, userID string, err error) {
			log.Printf("profile %s for %s failed: %v", op, userID, err) // and count it
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	alice := entities.UserContext{ID: "alice"}
	for _, file := range []string{"datafile-v1.json", "datafile-v2.json"} {
		datafile, err := os.ReadFile("../examples/" + file)
		if err != nil {
			log.Fatal(err)
		}
		sticky, err := (&client.OptimizelyFactory{Datafile: datafile}).Client(
			client.WithConfigManager(config.NewStaticProjectConfigManagerWithOptions("", config.WithInitialDatafile(datafile))),
			client.WithUserProfileService(profiles),
		)
		if err != nil {
			log.Fatal(err)
		}
		plain, err := (&client.OptimizelyFactory{Datafile: datafile}).Client(
			client.WithConfigManager(config.NewStaticProjectConfigManagerWithOptions("", config.WithInitialDatafile(datafile))),
		)
		if err != nil {
			log.Fatal(err)
		}
		kept, _ := sticky.GetVariation("checkout_button", alice)
		hashed, _ := plain.GetVariation("checkout_button", alice)
		fmt.Printf("%s: alice sees %s (%s without the profile service)\n", file, kept, hashed)
		sticky.Close()
		plain.Close()
	}

	saved, _ := store.Lookup(context.Background(), "alice")
	fmt.Println("stored:", saved.Assignments["3001"].VariationID)
	// Output:
	// datafile-v1.json: alice sees control (control without the profile service)
	// datafile-v2.json: alice sees control (green without the profile service)
	// stored: 4001
}
