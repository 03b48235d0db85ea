package admin

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// logEvery spaces progress lines when stderr is not a terminal.
var logEvery = 5 * time.Second

// progress shows how far a long command has come: a bar on stderr when it
// is a terminal, otherwise a line every logEvery, so logs of a job stay
// readable. Its methods are called from one goroutine at a time.
type progress struct {
	w    io.Writer
	bar  *progressbar.ProgressBar // nil when stderr is not a terminal
	name string
	last time.Time
}

// newProgress starts a progress display for max units (bytes when
// asBytes); max < 0 means unknown.
func newProgress(stderr io.Writer, name string, max int64, asBytes bool) *progress {
	p := &progress{w: stderr, name: name, last: time.Now()}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(asBytes),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetSpinnerChangeInterval(0), // no redraw goroutine
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return p
}

// update sets how many units are done and what to say about it.
func (p *progress) update(done int64, detail string) {
	if p.bar != nil {
		p.bar.Describe(p.name + ": " + detail)
		_ = p.bar.Set64(done)
		return
	}
	if time.Since(p.last) >= logEvery {
		fmt.Fprintf(p.w, "%s: %s\n", p.name, detail)
		p.last = time.Now()
	}
}

// println writes a line of its own, moving the bar out of the way.
func (p *progress) println(line string) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, line)
}

// finish takes the bar off the screen; the caller prints a summary.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Clear()
		_ = p.bar.Exit()
	}
}
