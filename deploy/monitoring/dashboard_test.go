package monitoring

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// TestDashboard: grafana-dashboard.json is a dashboard whose every query
// reads metrics and labels the service exports, with panels laid out
// without overlap, and one for each thing the alerts watch.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want all three", d.UID, d.Title, d.SchemaVersion)
	}
	have := exported(t)

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Errorf("variable %s: query %s", v.Name, v.Query)
				continue
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		for _, p := range checkQuery(m[1], have) {
			t.Errorf("variable %s: %s", v.Name, p)
		}
		if s, ok := series(strings.TrimSpace(strings.SplitN(m[1], "{", 2)[0]), have); ok && !s.labels[m[2]] && !targetLabels[m[2]] {
			t.Errorf("variable %s: label %s is not on %s", v.Name, m[2], m[1])
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one data source")
	}

	var panels []panel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	ids := map[int]bool{}
	exprs := ""
	for i, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.X < 0 || g.W <= 0 || g.X+g.W > 24 || g.H <= 0 {
			t.Errorf("panel %q: grid position %+v outside the 24 columns", p.Title, g)
		}
		for _, q := range panels[:i] {
			if overlap(p, q) {
				t.Errorf("panels %q and %q overlap", p.Title, q.Title)
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: title %q, %d queries", p.ID, p.Title, len(p.Targets))
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want the datasource variable", p.Title, p.Datasource)
		}
		refs := map[string]bool{}
		for _, target := range p.Targets {
			if target.RefID == "" || refs[target.RefID] {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, target.RefID)
			}
			refs[target.RefID] = true
			for _, prob := range checkQuery(target.Expr, have) {
				t.Errorf("panel %q: %s", p.Title, prob)
			}
			exprs += target.Expr + "\n"
		}
	}
	// What the dashboard must show.
	for _, m := range []string{
		"stickybucket_store_errors_total", "stickybucket_decisions_without_profile_total",
		`stickybucket_decisions_by_profile_total{profile="read"`, "stickybucket_async_dropped_total",
		"stickybucket_async_failed_total", "stickybucket_async_queue_depth", "stickybucket_breaker_open",
		"stickybucket_datafile_loads_total", "histogram_quantile(0.99, sum by (route, le)",
	} {
		if !strings.Contains(exprs, m) {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// overlap reports whether two panels share a cell of the grid.
func overlap(a, b panel) bool {
	ga, gb := a.GridPos, b.GridPos
	return ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H
}
