package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// synopses returns the command lines of a text: the lines starting with
// "stickybucket " (after prefix), each joined with the indented lines
// that continue it, whitespace collapsed.
func synopses(lines []string, prefix string) []string {
	var out []string
	for i := 0; i < len(lines); i++ {
		l, ok := strings.CutPrefix(lines[i], prefix)
		if !ok || !strings.HasPrefix(l, "stickybucket ") {
			continue
		}
		for i+1 < len(lines) {
			next, ok := strings.CutPrefix(lines[i+1], prefix)
			if !ok || !strings.HasPrefix(next, " ") || strings.HasPrefix(strings.TrimSpace(next), "stickybucket ") {
				break
			}
			l += " " + next
			i++
		}
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// readmeCodeBlocks returns the lines of README.md's code blocks, and
// those of the first block after heading.
func readmeCodeBlocks(t *testing.T, heading string) (all, section []string) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inBlock, inSection, sectionDone := false, false, false
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			if inBlock && inSection {
				sectionDone = true
			}
			inBlock = !inBlock
		case inBlock:
			all = append(all, l)
			if inSection && !sectionDone {
				section = append(section, l)
			}
		case strings.HasPrefix(l, "## "):
			inSection = l == heading
		}
	}
	return all, section
}

var (
	longFlag    = regexp.MustCompile(`--([a-z][a-z-]*)`)
	definedFlag = regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`)
)

func flagsIn(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// TestHelpAgreesWithTheREADME: the README's "Command line" block is the
// command lines; the top-level usage lists the same, and every command's
// -h prints its own and documents exactly the flags it defines. Every
// other command line in the README's code blocks and in the packages'
// documentation is one of them.
func TestHelpAgreesWithTheREADME(t *testing.T) {
	all, section := readmeCodeBlocks(t, "## Command line")
	readme := synopses(section, "")
	if len(readme) < 8 {
		t.Fatalf("the README's Command line block has %d command lines: %q", len(readme), readme)
	}
	top := synopses(strings.Split(usage, "\n"), "  ")
	if !slices.Equal(top, readme) {
		t.Errorf("the top-level usage and the README's Command line block differ:\nusage:\n%s\nREADME:\n%s", strings.Join(top, "\n"), strings.Join(readme, "\n"))
	}
	for _, line := range readme {
		words := strings.Fields(line)[1:]
		cmd := []string{}
		for _, w := range words {
			if !regexp.MustCompile(`^[a-z][a-z-]*(\|[a-z][a-z-]*)*$`).MatchString(w) {
				break
			}
			cmd = append(cmd, w)
		}
		if len(cmd) == 1 && cmd[0] == "help" {
			continue
		}
		for _, alt := range strings.Split(cmd[len(cmd)-1], "|") {
			args := append(slices.Clone(cmd[:len(cmd)-1]), alt, "-h")
			var out bytes.Buffer
			if code := run(context.Background(), args, strings.NewReader(""), &out, &out); code != exitOK {
				t.Errorf("%s: exit %d", strings.Join(args, " "), code)
			}
			help := out.String()
			want := strings.Replace(line, cmd[len(cmd)-1], alt, 1)
			usageLine, _, _ := strings.Cut(strings.TrimPrefix(help, "Usage: "), "\n")
			if !strings.HasPrefix(help, "Usage: ") || usageLine != want {
				t.Errorf("%s prints the usage\n  %s\nand the README has\n  %s", strings.Join(args, " "), usageLine, want)
			}
			if got, want := flagsIn(definedFlag, help), flagsIn(longFlag, line); !slices.Equal(got, want) {
				t.Errorf("%s documents the flags %q; the README's line has %q", strings.Join(args, " "), got, want)
			}
		}
	}
	// Command lines elsewhere: the README's other code blocks, and the
	// synopses of the packages' documentation.
	elsewhere := synopses(all, "")
	for _, doc := range []string{"doc.go", "admin/doc.go"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		elsewhere = append(elsewhere, synopses(strings.Split(string(data), "\n"), "//\t")...)
	}
	for _, line := range elsewhere {
		if !strings.Contains(line, " [") && !strings.Contains(line, " --") {
			continue // an example, not a synopsis
		}
		if !slices.ContainsFunc(readme, func(r string) bool { return r == line || expands(r, line) }) {
			t.Errorf("a command line that is not in the README's Command line block:\n  %s", line)
		}
	}
}

// expands reports whether line is r with one alternative of its a|b
// command word.
func expands(r, line string) bool {
	for _, w := range strings.Fields(r) {
		if strings.Contains(w, "|") && regexp.MustCompile(`^[a-z|]+$`).MatchString(w) {
			for _, alt := range strings.Split(w, "|") {
				if strings.Replace(r, w, alt, 1) == line {
					return true
				}
			}
		}
	}
	return false
}

// TestMakeAloneInstallsNothing: `make` with no target only lists the
// targets (it used to run vet and test, installing Docker and leaving
// dockerd running); `make help` says what every target does, and the
// README's Quick start table names every target.
func TestMakeAloneInstallsNothing(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dry := exec.Command("make", "-n")
	dry.Dir = "../.."
	out, err := dry.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n: %v\n%s", err, out)
	}
	for _, w := range []string{"docker", "engine.sh", "image.sh", "apt-get", "go test", "go vet", "go build", "go run"} {
		if strings.Contains(string(out), w) {
			t.Errorf("make alone would run %q:\n%s", w, out)
		}
	}
	help := exec.Command("make", "-s", "help")
	help.Dir = "../.."
	listed, err := help.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, listed)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	quickStart, _, _ := strings.Cut(string(readme[strings.Index(string(readme), "## Quick start"):]), "\n## ")
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindStringSubmatch(string(makefile))
	if phony == nil {
		t.Fatal("no .PHONY line in the Makefile")
	}
	for _, target := range strings.Fields(phony[1]) {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(target) + ` +\S`).Match(listed) {
			t.Errorf("make help does not describe %s:\n%s", target, listed)
		}
		if !strings.Contains(quickStart, "`make "+target+"`") {
			t.Errorf("the README's Quick start does not name make %s", target)
		}
	}
}
