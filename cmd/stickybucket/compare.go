package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"unicode"
)

// outputLine is any line decide writes.
type outputLine struct {
	UserID     string  `json:"user_id"`
	Experiment *string `json:"experiment"`
	Flag       *string `json:"flag"`
	Variation  *string `json:"variation"`
	Line       int     `json:"line"`
	Error      string  `json:"error"`
}

func (o outputLine) subject() string {
	switch {
	case o.Error != "":
		return fmt.Sprintf("(line %d)", o.Line)
	case o.Flag != nil:
		return "flag " + cell(*o.Flag)
	case o.Experiment != nil:
		return "experiment " + cell(*o.Experiment)
	}
	return "?"
}

func (o outputLine) result() string {
	if o.Error != "" {
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
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: stickybucket compare BEFORE.jsonl AFTER.jsonl") }
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
	kept := 0
	for i, b := range before {
		a := after[i]
		if b.UserID != a.UserID || b.subject() != a.subject() {
			fmt.Fprintf(stderr, "stickybucket compare: line %d is %s/%s before and %s/%s after; compare outputs of the same requests\n",
				i+1, cell(b.UserID), b.subject(), cell(a.UserID), a.subject())
			return exitFail
		}
		verdict := "changed"
		if b.result() == a.result() {
			verdict = "kept"
			kept++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(b.UserID), b.subject(), b.result(), a.result(), verdict)
	}
	if err := tw.Flush(); err != nil {
		return exitFail
	}
	fmt.Fprintf(stdout, "%d of %d decisions kept their variation\n", kept, len(before))
	return exitOK
}

// readOutput reads every line decide can write. Lines have no length
// limit (decide echoes user IDs and keys, and a datafile's keys have no
// bound here), so they are read whole; blank lines are skipped. Error
// messages give the line number in the file.
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
			var o outputLine
			if uerr := json.Unmarshal(line, &o); uerr != nil {
				return nil, fmt.Errorf("%s line %d: %v", path, n, uerr)
			}
			out = append(out, o)
		}
		if err != nil { // io.EOF
			return out, nil
		}
	}
}
