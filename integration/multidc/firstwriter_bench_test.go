package multidc

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

var rounds = flag.Int("rounds", 1,
	"times BenchmarkSaveFirstAcrossDatacenters runs each of its sub-benchmarks, interleaved (pool them with benchstat -ignore /round)")

// maxSaves bounds the new users one sub-benchmark may write; at a few
// milliseconds a save, -benchtime 2s needs under a thousand.
const maxSaves = 20_000

// BenchmarkSaveFirstAcrossDatacenters prices first writer wins on the
// four-node cluster (dc1: three replicas, dc2: one), every call coordinated
// in dc1 and written at LOCAL_QUORUM:
//
//	op=save                 Save, the plain upsert, of one new assignment
//	op=first-localserial    SaveFirst at LOCAL_SERIAL: Paxos among dc1's
//	                        three replicas
//	op=first-serial         SaveFirst at SERIAL: Paxos with a quorum of all
//	                        four replicas, dc2's included
//	op=first-lost           SaveFirst at SERIAL of a user who has the
//	                        assignment already: the round finds it and
//	                        writes nothing
//	op=replace-localserial  SaveReplacing at LOCAL_SERIAL of a user's one
//	                        assignment, expecting what is stored: applied
//	op=replace-serial       the same at SERIAL
//	op=replace-lost         SaveReplacing at SERIAL expecting a variation
//	                        that is not stored: the round finds the other
//	                        and writes nothing
//
// The datacenters share one machine's loopback, so this measures the
// extra rounds and replicas, not a WAN's latency (which SERIAL pays once
// more per round across regions). Each side runs -rounds times, the sides
// in a rotating order, so load drift hits them alike:
//
//	go test -run '^$' -bench BenchmarkSaveFirstAcrossDatacenters -benchmem -benchtime 2s ./integration/multidc/ -args -rounds 6 | tee lwt.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /op -ignore /round lwt.txt
func BenchmarkSaveFirstAcrossDatacenters(b *testing.B) {
	ctx := context.Background()
	ks := keyspace(b, "bench_first")
	migrate(b, ks)
	store := func(serial string) *cassandra.Store {
		e := env(b, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
		e.SerialConsistency = serial
		session, err := productionCluster(b, e).CreateSession()
		if err != nil {
			b.Fatalf("connect to %s: %v", cluster.Hosts(), err)
		}
		b.Cleanup(session.Close)
		return storeOn(b, session, e)
	}
	serial, local := store("SERIAL"), store("LOCAL_SERIAL")
	warmUp(b, serial, 50)
	warmUp(b, local, 50)

	made := 0
	// newUsers returns maxSaves profiles of users never saved, each with
	// one assignment, built before the timer starts.
	newUsers := func() []ups.Profile {
		ps := make([]ups.Profile, maxSaves)
		for i := range ps {
			made++
			ps[i] = ups.NewProfile(fmt.Sprintf("lwt-new-%07d", made))
			ps[i].Set("3001", "4001")
		}
		return ps
	}
	const existingUsers = 500
	existing := make([]ups.Profile, existingUsers)
	rivals := make([]ups.Profile, existingUsers)
	for i := range existing {
		id := fmt.Sprintf("lwt-had-%04d", i)
		existing[i] = ups.NewProfile(id)
		existing[i].Set("3001", "4001")
		if err := serial.Save(ctx, existing[i]); err != nil {
			b.Fatalf("save %s: %v", id, err)
		}
		rivals[i] = ups.NewProfile(id)
		rivals[i].Set("3001", "4002")
	}

	// replacing holds users with one stored assignment each, known to the
	// caller as a decision would have read it; replace writes the other
	// variation over it, expecting it, and remembers the new one.
	type replacing struct {
		users []ups.Profile
		held  []ups.Assignment
		next  int
	}
	replacingUsers := func(prefix string) *replacing {
		r := &replacing{}
		for i := range existingUsers {
			p := ups.NewProfile(fmt.Sprintf("lwt-%s-%04d", prefix, i))
			a := ups.Assignment{VariationID: "4001", DecidedAt: time.Now().UTC().Truncate(time.Millisecond)}
			p.Assignments["3001"] = a
			if err := serial.Save(ctx, p); err != nil {
				b.Fatalf("save %s: %v", p.UserID, err)
			}
			r.users, r.held = append(r.users, p), append(r.held, a)
		}
		return r
	}
	replace := func(s *cassandra.Store, r *replacing) error {
		k := r.next % len(r.users)
		r.next++
		was := r.held[k]
		mine := ups.Assignment{VariationID: "4002", DecidedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if was.VariationID == "4002" {
			mine.VariationID = "4001"
		}
		p := ups.Profile{UserID: r.users[k].UserID, Assignments: map[string]ups.Assignment{"3001": mine}}
		won, err := s.SaveReplacing(ctx, p, map[string]ups.Assignment{"3001": was})
		if err == nil && !won.Empty() {
			err = fmt.Errorf("SaveReplacing of %s expecting what is stored lost to %v", p.UserID, won.Assignments)
		}
		if err == nil {
			r.held[k] = mine
		}
		return err
	}
	replaceSerial, replaceLocal := replacingUsers("repl-serial"), replacingUsers("repl-local")
	stale := map[string]ups.Assignment{"3001": {VariationID: "4002", DecidedAt: time.Unix(0, 0)}}

	// Paxos paths of four fresh JVMs warm slowly: without this the first
	// rounds ran 3–4 times slower than the last. Every kind of call, for
	// warmFor or warmCalls calls, whichever ends first.
	const (
		warmFor   = 45 * time.Second
		warmCalls = 20_000
	)
	warmed := newUsers()
	began := time.Now()
	for i := 0; i < warmCalls && time.Since(began) < warmFor; i++ {
		p := warmed[i%maxSaves]
		var err error
		switch i % 7 {
		case 0:
			err = serial.Save(ctx, p)
		case 1:
			_, err = local.SaveFirst(ctx, p)
		case 2:
			_, err = serial.SaveFirst(ctx, p)
		case 3:
			_, err = serial.SaveFirst(ctx, rivals[i%existingUsers])
		case 4:
			err = replace(local, replaceLocal)
		case 5:
			err = replace(serial, replaceSerial)
		case 6:
			_, err = serial.SaveReplacing(ctx, rivals[i%existingUsers], stale)
		}
		if err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	type side struct {
		name string
		run  func(b *testing.B)
	}
	saving := func(save func(p ups.Profile) error) func(b *testing.B) {
		return func(b *testing.B) {
			ps := newUsers()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i == maxSaves {
					b.Fatalf("more than %d saves: lower -benchtime", maxSaves)
				}
				if err := save(ps[i]); err != nil {
					b.Fatalf("%s: %v", ps[i].UserID, err)
				}
			}
		}
	}
	replacingSide := func(replace func() error) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := replace(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	first := func(s *cassandra.Store) func(p ups.Profile) error {
		return func(p ups.Profile) error {
			won, err := s.SaveFirst(ctx, p)
			if err == nil && !won.Empty() {
				err = fmt.Errorf("SaveFirst of a new user lost to %v", won.Assignments)
			}
			return err
		}
	}
	sides := []side{
		{"op=save", saving(func(p ups.Profile) error { return serial.Save(ctx, p) })},
		{"op=first-localserial", saving(first(local))},
		{"op=first-serial", saving(first(serial))},
		{"op=first-lost", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % existingUsers
				won, err := serial.SaveFirst(ctx, rivals[k])
				if err != nil {
					b.Fatalf("%s: %v", rivals[k].UserID, err)
				}
				if got := won.Assignments["3001"].VariationID; got != "4001" {
					b.Fatalf("SaveFirst over %s's saved 4001 won with %q; want it to lose to 4001", rivals[k].UserID, got)
				}
			}
		}},
		{"op=replace-localserial", replacingSide(func() error { return replace(local, replaceLocal) })},
		{"op=replace-serial", replacingSide(func() error { return replace(serial, replaceSerial) })},
		{"op=replace-lost", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % existingUsers
				won, err := serial.SaveReplacing(ctx, rivals[k], stale)
				if err != nil {
					b.Fatalf("%s: %v", rivals[k].UserID, err)
				}
				if got := won.Assignments["3001"].VariationID; got != "4001" {
					b.Fatalf("SaveReplacing over %s's saved 4001, expecting 4002, won with %q; want it to lose to 4001", rivals[k].UserID, got)
				}
			}
		}},
	}
	for r := range *rounds {
		for k := range sides {
			s := sides[(r+k)%len(sides)]
			b.Run(fmt.Sprintf("round=%d/%s", r+1, s.name), s.run)
		}
	}
}
