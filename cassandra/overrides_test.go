package cassandra

import "testing"

// TestOverrideStatements: the CQL Overrides sends, as built once; the
// integration test runs it against Cassandra.
func TestOverrideStatements(t *testing.T) {
	s, err := newOverrideStatements("ks")
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		s.lookup:    "SELECT experiment_key,variation_key FROM ks.overrides WHERE scope=? AND user_id=? LIMIT 1000 ",
		s.lookupOne: "SELECT variation_key FROM ks.overrides WHERE scope=? AND user_id=? AND experiment_key=? ",
		s.insert:    "INSERT INTO ks.overrides (scope,user_id,experiment_key,variation_key) VALUES (?,?,?,?) USING TTL ? ",
		s.delete:    "DELETE FROM ks.overrides WHERE scope=? AND user_id=? AND experiment_key=? ",
	} {
		if got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
}
