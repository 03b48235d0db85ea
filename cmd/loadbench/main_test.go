package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// svgSummary decodes an SVG document completely (so it is well-formed XML)
// and reports its root element, how many paths it draws, and its text.
func svgSummary(t *testing.T, data []byte) (root string, paths int, text string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var sb strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
				if el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q, want SVG's", el.Name.Space)
				}
			}
			if el.Name.Local == "path" {
				paths++
			}
		case xml.CharData:
			sb.Write(el)
		}
	}
	return root, paths, sb.String()
}

func TestMainWritesJSONAndSVG(t *testing.T) {
	a := startServer(t, &decideServer{})
	b := startServer(t, &decideServer{})
	dir := t.TempDir()
	out, svg := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"--target", "agent=" + a.URL.String(), "--target", "ours=" + b.URL.String(),
		"--flag", "new_search", "--sdk-key", "key1", "--clients", "3", "--users", "40",
		"--rounds", "2", "--duration", "1m", "--max-requests", "150", "--warmup", "1m",
		"--baseline", "agent", "--out", out, "--svg", svg,
		"--attributes", `{"plan": ["free", "pro"]}`,
		// The test servers run in this process.
		"--pid", "agent=" + strconv.Itoa(os.Getpid()),
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Name != "agent" || rep.Targets[1].Name != "ours" {
		t.Fatalf("targets %+v", rep.Targets)
	}
	for _, tr := range rep.Targets {
		if tr.OK != 300 || len(tr.Rounds) != 2 || len(tr.Curve) < 10 || tr.RequestsPerSecond <= 0 {
			t.Errorf("target %s: ok %d in %d rounds, %d curve points, %.0f req/s", tr.Name, tr.OK, len(tr.Rounds), len(tr.Curve), tr.RequestsPerSecond)
		}
		last := tr.Curve[len(tr.Curve)-1]
		if last.MS != tr.Latency.Max {
			t.Errorf("target %s: curve ends at %v ms, max is %v ms", tr.Name, last.MS, tr.Latency.Max)
		}
	}
	if rep.Setup.Clients != 3 || rep.Setup.Users != 40 || rep.Setup.Flag != "new_search" || len(rep.Setup.Attributes["plan"]) != 2 {
		t.Errorf("setup %+v", rep.Setup)
	}
	if rep.Comparison == nil || rep.Comparison.Baseline != "agent" || len(rep.Comparison.Targets) != 1 {
		t.Errorf("comparison %+v", rep.Comparison)
	}
	if rep.Setup.PIDs["agent"] != os.Getpid() {
		t.Errorf("setup pids %v", rep.Setup.PIDs)
	}
	if rep.Machine.CPUs <= 0 || rep.Machine.GoVersion == "" {
		t.Errorf("machine %+v", rep.Machine)
	}

	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	root, paths, text := svgSummary(t, data)
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if paths < 2 {
		t.Errorf("%d paths drawn, want a line per target at least", paths)
	}
	for _, want := range []string{"agent:", "ours:", "req/s", "99%", "latency (ms)", "percentile"} {
		if !strings.Contains(text, want) {
			t.Errorf("chart text lacks %q", want)
		}
	}

	for _, want := range []string{"agent", "ours", "ours vs agent"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestMainFailsWhenRequestsFailButWritesResults(t *testing.T) {
	srv := startServer(t, &decideServer{fault: func(user string) string {
		if strings.HasSuffix(user, "7") {
			return "500"
		}
		return ""
	}})
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"--target", "svc=" + srv.URL.String(), "--flag", "new_search", "--sdk-key", "key1",
		"--clients", "2", "--users", "30", "--rounds", "1", "--max-requests", "200", "--warmup", "0", "--out", out,
	}, &stdout, &stderr)
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr.String(), "failed requests") {
		t.Errorf("stderr does not report the failures:\n%s", stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("results not written: %v", err)
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if tr := rep.Targets[0]; tr.Non2xx == 0 || tr.Non2xx != tr.StatusCodes["500"] {
		t.Errorf("non-2xx %d, status codes %v", tr.Non2xx, tr.StatusCodes)
	}
}

func TestMainRefusesBadCommandLines(t *testing.T) {
	srv := &decideServer{}
	target := startServer(t, srv)
	base := []string{"--flag", "new_search", "--sdk-key", "key1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"remote target", append([]string{"--target", "x=http://192.0.2.1:80"}, base...), "loopback"},
		{"no target", base, "no target"},
		{"no flag", []string{"--target", "x=" + target.URL.String(), "--sdk-key", "k"}, "no flag"},
		{"zero clients", append([]string{"--target", "x=" + target.URL.String(), "--clients", "0"}, base...), "positive"},
		{"zero requests", append([]string{"--target", "x=" + target.URL.String(), "--max-requests", "0"}, base...), "positive"},
		{"unknown baseline", append([]string{"--target", "x=" + target.URL.String(), "--baseline", "y"}, base...), "baseline"},
		{"bad attributes", append([]string{"--target", "x=" + target.URL.String(), "--attributes", "[]"}, base...), "attributes"},
		{"pid of no target", append([]string{"--target", "x=" + target.URL.String(), "--pid", "y=12"}, base...), "pid"},
		{"bad pid", append([]string{"--target", "x=" + target.URL.String(), "--pid", "x=-3"}, base...), "NAME=PID"},
		{"stray argument", append([]string{"--target", "x=" + target.URL.String(), "extra"}, base...), "unexpected"},
		{"unknown route", append([]string{"--target", "x=" + target.URL.String(), "--route", "x=save"}, base...), "ups-save"},
		{"route of no target", append([]string{"--target", "x=" + target.URL.String(), "--route", "y=lookup"}, base...), "not a target"},
		{"route without name", append([]string{"--target", "x=" + target.URL.String(), "--route", "lookup"}, base...), "NAME=ROUTE"},
		{"negative rate", append([]string{"--target", "x=" + target.URL.String(), "--rate", "-5"}, base...), "rate"},
		{"lookup without SDK key", []string{"--target", "x=" + target.URL.String(), "--route", "x=lookup"}, "no SDK key"},
		{"bad save profile", append([]string{"--target", "x=" + target.URL.String(), "--route", "x=ups-save", "--save-profile", "{}"}, base...), "no experiment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, tt.want)
			}
		})
	}
	if n := srv.total() + srv.rejected.Load(); n != 0 {
		t.Errorf("the server got %d requests from refused command lines", n)
	}
}

// The open loop through the command line: the summary and the JSON carry
// the rate, the late and unsent requests and the target's CPU per request;
// targets on other routes need no flag.
func TestMainOpenLoopWithRoutes(t *testing.T) {
	u := startProfileServer(t, &profileServer{})
	dir := t.TempDir()
	out, svg := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{
		"--target", "lookup=" + u.String(), "--target", "ups=" + u.String(),
		"--route", "lookup=lookup", "--route", "ups=ups-lookup", "--sdk-key", "key1",
		"--rate", "400", "--clients", "2", "--users", "40", "--rounds", "1", "--duration", "150ms", "--warmup", "0",
		"--baseline", "lookup", "--out", out, "--svg", svg, "--cpuprofile", filepath.Join(dir, "cpu.prof"),
		"--pid", "lookup=" + strconv.Itoa(os.Getpid()), "--pid", "ups=" + strconv.Itoa(os.Getpid()),
	}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("results JSON: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cpu.prof")); err != nil || fi.Size() == 0 {
		t.Errorf("driver's CPU profile: %v", err)
	}
	if rep.Setup.Mode != "open loop" || rep.Setup.RatePerSecond != 400 || rep.Setup.Route != "per target" || rep.Setup.Flag != "" {
		t.Errorf("setup %+v", rep.Setup)
	}
	for _, tr := range rep.Targets {
		if o := tr.OpenLoop; o == nil || o.Scheduled != 60 || o.Sent+o.Unsent != 60 || tr.OK != o.Sent {
			t.Errorf("target %s: open loop %+v, ok %d; want 60 scheduled, each sent answered", tr.Name, o, tr.OK)
		}
	}
	if !strings.Contains(string(raw), `"target_cpu_us_per_request"`) && rep.Targets[0].Load.TargetCores > 0 {
		t.Errorf("JSON lacks the target's CPU per request though its CPU was measured")
	}
	for _, want := range []string{"late %", "unsent", "held", "target µs/req", "ups vs lookup"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, text := svgSummary(t, data); !strings.Contains(text, "open loop") || !strings.Contains(text, "ups (/v1/ups/lookup)") {
		t.Errorf("chart text lacks the mode or the routes: %s", text)
	}
	// The same chart again from the results file alone.
	again := filepath.Join(dir, "again.svg")
	if code := run(context.Background(), []string{"--chart-from", out, "--svg", again}, &stdout, &stderr); code != exitOK {
		t.Fatalf("--chart-from: exit %d, stderr:\n%s", code, stderr.String())
	}
	if redrawn, err := os.ReadFile(again); err != nil || !bytes.Equal(redrawn, data) {
		t.Errorf("--chart-from drew another chart than the run (%v)", err)
	}
	if code := run(context.Background(), []string{"--chart-from", out}, &stdout, &stderr); code != exitUsage {
		t.Errorf("--chart-from without --svg: exit %d, want %d", code, exitUsage)
	}
}
