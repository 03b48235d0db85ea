package cassandra

import (
	"testing"
)

func TestStatements(t *testing.T) {
	s, err := newStatements("sb_prod")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"lookup", s.lookup, "SELECT experiment_id,variation_id,decided_at,TTL(variation_id) AS ttl FROM sb_prod.assignments WHERE user_id=? "},
		{"lookupIn", s.lookupIn, "SELECT experiment_id,variation_id,decided_at,TTL(variation_id) AS ttl FROM sb_prod.assignments WHERE user_id=? AND experiment_id IN ? "},
		{"lookupOne", s.lookupOne, "SELECT variation_id,decided_at,TTL(variation_id) AS ttl FROM sb_prod.assignments WHERE user_id=? AND experiment_id=? "},
		{"insert", s.insert, "INSERT INTO sb_prod.assignments (user_id,experiment_id,variation_id,decided_at) VALUES (?,?,?,?) USING TTL ? "},
		{"insertNew", s.insertNew, "INSERT INTO sb_prod.assignments (user_id,experiment_id,variation_id,decided_at) VALUES (?,?,?,?) IF NOT EXISTS USING TTL ? "},
		{"replace", s.replace, "UPDATE sb_prod.assignments USING TTL ? SET variation_id=?,decided_at=? WHERE user_id=? AND experiment_id=? IF variation_id=? AND decided_at=? "},
		{"delete", s.delete, "DELETE FROM sb_prod.assignments WHERE user_id=? "},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s statement:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
}
