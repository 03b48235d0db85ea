package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"unicode"
)

const compareUsage = `Usage: stickybucket compare BEFORE.jsonl AFTER.jsonl

Lines up two outputs of "stickybucket decide" for the same requests (say,
before and after a datafile change) and tells, per request, whether the
user kept the variation: a table, then how many decisions kept theirs.

A request that was a bad line ({"line", "error"}) in either run is listed
as an error and counted apart; it is not a decision, kept or changed.
Anything but decide's output (its requests file, say) is refused, naming
the line and why. Blank lines are skipped.

Exit status: 0 compared (errors included); 1 a file that cannot be read,
is not decide's output, or holds other requests than the other file;
2 a wrong command line.
`

// outputLine is any line decide writes: a decision of an experiment or a
// flag, or a bad request line's error.
type outputLine struct {
	UserID     string
	Experiment *string
	Flag       *string
	Variation  *string
	Line       int // of the bad request line, for an error
	Error      string
}

func (o outputLine) isError() bool { return o.Error != "" }

func (o outputLine) subject() string {
	switch {
	case o.isError():
		return fmt.Sprintf("(line %d)", o.Line)
	case o.Flag != nil:
		return "flag " + cell(*o.Flag)
	case o.Experiment != nil:
		return "experiment " + cell(*o.Experiment)
	}
	return "?"
}

func (o outputLine) result() string {
	if o.isError() {
		return "error"
	}
	if o.Variation == nil {
		return "-"
	}
	return cell(*o.Variation)
}

// cell is how a value from decide's output is shown in the table: cut to
// a bounded width (one long user ID would otherwise pad every row of the
// aligned table to its width) and quoted when it holds a tab, a newline
// or another character that is not printable.
func cell(s string) string {
	c := clip(s)
	for _, r := range c {
		if !unicode.IsPrint(r) {
			return strconv.Quote(c)
		}
	}
	return c
}

// runCompare lines up two outputs of decide for the same requests and says,
// per request, whether the user kept their variation.
func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, compareUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitUsage
	}
	before, err := readOutput(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "stickybucket compare:", err)
		return exitFail
	}
	after, err := readOutput(fs.Arg(1))
	if err != nil {
		fmt.Fprintln(stderr, "stickybucket compare:", err)
		return exitFail
	}
	if len(before) != len(after) {
		fmt.Fprintf(stderr, "stickybucket compare: %s has %d lines and %s has %d; compare outputs of the same requests\n",
			fs.Arg(0), len(before), fs.Arg(1), len(after))
		return exitFail
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tDECISION\tBEFORE\tAFTER\t")
	var kept, compared, errorsBefore, errorsAfter, errorRows int
	for i, b := range before {
		a := after[i]
		if err := sameRequest(b, a); err != nil {
			fmt.Fprintf(stderr, "stickybucket compare: output line %d: %v; compare outputs of the same requests\n", i+1, err)
			return exitFail
		}
		row := b // the decision, when one side is an error
		if b.isError() {
			row = a
		}
		verdict := "changed"
		switch {
		case b.isError() || a.isError():
			verdict = "error"
			errorRows++
			errorsBefore += btoi(b.isError())
			errorsAfter += btoi(a.isError())
		case b.result() == a.result():
			verdict = "kept"
			kept++
			compared++
		default:
			compared++
		}
		user := cell(row.UserID)
		if row.isError() {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", user, row.subject(), b.result(), a.result(), verdict)
	}
	if err := tw.Flush(); err != nil {
		return exitFail
	}
	fmt.Fprintf(stdout, "%d of %d decisions kept their variation\n", kept, compared)
	if errorRows > 0 {
		fmt.Fprintf(stdout, "%d %s not compared: bad request lines (%d before, %d after)\n",
			errorRows, plural(errorRows, "request", "requests"), errorsBefore, errorsAfter)
	}
	return exitOK
}

// sameRequest checks that b and a, at the same place in both outputs,
// answer the same request: the same user and decision, or the same bad
// line. A decision on one side and an error on the other cannot be
// checked further.
func sameRequest(b, a outputLine) error {
	switch {
	case b.isError() && a.isError():
		if b.Line != a.Line {
			return fmt.Errorf("an error of request line %d before and of request line %d after", b.Line, a.Line)
		}
	case b.isError() || a.isError():
	case b.UserID != a.UserID || b.subject() != a.subject():
		return fmt.Errorf("%s/%s before and %s/%s after", cell(b.UserID), b.subject(), cell(a.UserID), a.subject())
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readOutput reads every line decide can write, and refuses anything
// else. Lines have no length limit (decide echoes user IDs and keys, and a
// datafile's keys have no bound here), so they are read whole; blank lines
// are skipped. Error messages give the line number in the file.
func readOutput(path string) ([]outputLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []outputLine
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			o, perr := parseOutputLine(line)
			if perr != nil {
				return nil, fmt.Errorf("%s line %d is not an output line of decide: %v", path, n, perr)
			}
			out = append(out, o)
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}

// The fields of each line decide writes (experimentLine, flagLine,
// errorLine), and whether each is required.
var (
	experimentFields = map[string]bool{"user_id": true, "experiment": true, "variation": true, "warning": false}
	flagFields       = map[string]bool{"user_id": true, "flag": true, "enabled": true, "variation": true, "rule": true, "warning": false}
	errorFields      = map[string]bool{"line": true, "error": true}
	// inputFields are those of decide's input that its output never has.
	inputFields = []string{"attributes", "options", "userId", "userAttributes", "decideOptions"}
)

// parseOutputLine reads one line of decide's output, or says why it is
// not one.
func parseOutputLine(line []byte) (outputLine, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return outputLine{}, errors.New("not a JSON object")
		}
		return outputLine{}, fmt.Errorf("invalid JSON: %v", err)
	}
	var want map[string]bool
	switch {
	case fields["error"] != nil:
		want = errorFields
	case fields["flag"] != nil:
		want = flagFields
	case fields["experiment"] != nil:
		want = experimentFields
	default:
		return outputLine{}, errors.New(`it has none of "experiment", "flag" or "error"`)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if _, ok := want[name]; !ok {
			if slices.Contains(inputFields, name) {
				return outputLine{}, fmt.Errorf("it has %q, a field of decide's requests: give compare what decide printed, not what it read", name)
			}
			return outputLine{}, fmt.Errorf("it has %s, which decide does not write", quote(name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := fields[name]; want[name] && !ok {
			if name == "variation" {
				return outputLine{}, errors.New(`it has no "variation": give compare what decide printed, not what it read`)
			}
			return outputLine{}, fmt.Errorf("it has no %q", name)
		}
	}
	d := fieldDecoder{fields: fields}
	var o outputLine
	if want["error"] {
		o.Line = d.lineNumber("line")
		o.Error = d.text("error", false)
		return o, d.err
	}
	o.UserID = d.text("user_id", false)
	// A request may name the key "" (which decides to no variation).
	if want["experiment"] {
		o.Experiment = ptr(d.text("experiment", true))
	} else {
		o.Flag = ptr(d.text("flag", true))
		d.boolean("enabled")
		d.textOrNull("rule")
	}
	o.Variation = d.textOrNull("variation")
	if _, ok := fields["warning"]; ok {
		d.text("warning", false)
	}
	return o, d.err
}

func ptr[T any](v T) *T { return &v }

// fieldDecoder decodes the fields of one line, keeping the first error.
type fieldDecoder struct {
	fields map[string]json.RawMessage
	err    error
}

func (d *fieldDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// text decodes a string field.
func (d *fieldDecoder) text(name string, mayBeEmpty bool) string {
	raw := d.fields[name]
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		d.fail("%q must be a string", name)
	} else if s == "" && !mayBeEmpty {
		d.fail("%q is empty", name)
	}
	return s
}

// textOrNull decodes a string field that may be null.
func (d *fieldDecoder) textOrNull(name string) *string {
	if string(d.fields[name]) == "null" {
		return nil
	}
	s := d.text(name, false)
	return &s
}

func (d *fieldDecoder) boolean(name string) bool {
	var b bool
	if raw := d.fields[name]; string(raw) == "null" || json.Unmarshal(raw, &b) != nil {
		d.fail("%q must be true or false", name)
	}
	return b
}

func (d *fieldDecoder) lineNumber(name string) int {
	var n int
	if raw := d.fields[name]; string(raw) == "null" || json.Unmarshal(raw, &n) != nil || n < 1 {
		d.fail("%q must be a line number", name)
	}
	return n
}
