package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/stickybucket/stickybucket/"

// allowed lists, for each package ARCHITECTURE.md places, the packages of
// this module it may import directly.
var allowed = map[string][]string{
	"internal/clip":       {},
	"internal/jsonstring": {},
	"ups":                 {"internal/clip"},
	"cql":                 {},
	"cassandra":           {"ups", "cql", "internal/clip"},
	"decision":            {"ups", "internal/clip"},
	"sdkprofiles":         {"ups", "internal/clip"},
	"optimizelyups":       {"ups", "internal/clip"},
	"events":              {"internal/jsonstring"},
	"datafiles":           {"decision", "events", "internal/clip"},
	"config":              {"ups", "cassandra", "events", "internal/clip"},
	"server":              {"decision", "events", "sdkprofiles", "ups", "internal/clip", "internal/jsonstring"},
	"stack":               {"cassandra", "config", "datafiles", "decision", "events", "sdkprofiles", "server", "ups", "internal/buildinfo", "internal/clip"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		rules, ok := allowed[pkg]
		if !ok {
			continue
		}
		seen[pkg] = true
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if ours && !slices.Contains(rules, dep) {
				t.Errorf("%s imports %s; ARCHITECTURE.md allows it %v", pkg, dep, rules)
			}
		}
	}
	for pkg := range allowed {
		if !seen[pkg] {
			t.Errorf("package %s is not in the module any more: update ARCHITECTURE.md and this test", pkg)
		}
	}
}
