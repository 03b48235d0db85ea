package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// lineColors tell targets apart; the first target (usually the baseline)
// gets the first.
var lineColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
}

// renderSVG draws latency against percentile, one line per target: x is
// "nines" (-log10(1 - p), so p50, p90, p99, p99.9 are evenly spaced), y is
// latency in milliseconds on a log scale.
func renderSVG(r *Report) ([]byte, error) {
	p := plot.New()
	p.Title.Padding = vg.Points(8)
	perTarget := r.Setup.Route == "per target"
	route := strings.TrimPrefix(r.Setup.Route, "POST ")
	if perTarget {
		route = "a route per target"
	}
	p.Title.Text = fmt.Sprintf("%s: %d clients, %d users, %d × %s per target",
		route, r.Setup.Clients, r.Setup.Users, r.Setup.Rounds, r.Setup.Duration)
	if r.Setup.RatePerSecond > 0 {
		p.Title.Text = fmt.Sprintf("%s, %g req/s, open loop: %d clients, %d users, %d × %s each",
			route, r.Setup.RatePerSecond, r.Setup.Clients, r.Setup.Users, r.Setup.Rounds, r.Setup.Duration)
	}
	// Long labels (a route per target, CPU per request) must fit.
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(2)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(-8)

	maxX, minY, maxY := 0.0, math.Inf(1), 0.0
	lines := 0
	for i, t := range r.Targets {
		if len(t.Curve) == 0 {
			continue
		}
		xys := make(plotter.XYs, 0, len(t.Curve))
		for _, c := range t.Curve {
			y := math.Max(c.MS, 0.001) // a log axis cannot show 0
			xys = append(xys, plotter.XY{X: nines(c.Percentile), Y: y})
			maxX = math.Max(maxX, nines(c.Percentile))
			minY = math.Min(minY, y)
			maxY = math.Max(maxY, y)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart line of target %q: %w", t.Name, err)
		}
		l.Color = lineColors[i%len(lineColors)]
		l.Width = vg.Points(1.8)
		p.Add(l)
		name := t.Name
		if perTarget {
			name += " (" + strings.TrimPrefix(r.Setup.Routes[t.Name], "POST ") + ")"
		}
		label := fmt.Sprintf("%s: %.0f req/s, p50 %s ms, p99 %s ms", name, t.RequestsPerSecond,
			trimFloat(t.Latency.P50), trimFloat(t.Latency.P99))
		if us := t.Load.TargetCPUPerRequestUS; us > 0 {
			label += fmt.Sprintf(", CPU %.1f µs/req", us)
		}
		if o := t.OpenLoop; o != nil && !o.Held {
			label += " (rate not held)"
		}
		p.Legend.Add(label, l)
		lines++
	}
	if lines == 0 {
		return nil, fmt.Errorf("chart: no target has measured latencies")
	}
	p.Add(plotter.NewGrid())
	// Room right of the last point; when the next whole nine is near, up to
	// it, so it gets its label.
	p.X.Min, p.X.Max = 0, math.Max(maxX, 1)+0.3
	if c := math.Ceil(maxX); c-maxX < 0.6 {
		p.X.Max = math.Max(p.X.Max, c+ninesLabelRoom)
	}
	p.X.Tick.Marker = ninesTicks{}
	// Room above the highest line for the legend, which sits top left,
	// above the low percentiles.
	p.Y.Min, p.Y.Max = minY/1.5, maxY*math.Pow(2, float64(lines)+0.5)
	p.Y.Tick.Marker = logTicks125{}

	wt, err := p.WriterTo(9*vg.Inch, 5.5*vg.Inch, "svg")
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	return buf.Bytes(), nil
}

// ninesLabelRoom is how far, in nines, a labelled tick stays from the
// right edge.
const ninesLabelRoom = 0.4

// ninesTicks labels the x axis at p0, p50, p90, p99, p99.9, …
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := []plot.Tick{{Value: 0, Label: "0%"}, {Value: nines(50), Label: "50%"}}
	label := "90"
	for n := 1; float64(n) <= hi+1e-9; n++ {
		t := plot.Tick{Value: float64(n)}
		// A label too near the right edge would be cut off.
		if float64(n) <= hi-ninesLabelRoom+1e-9 {
			t.Label = label + "%"
		}
		ticks = append(ticks, t)
		if n == 1 {
			label = "99"
		} else {
			if n == 2 {
				label += "."
			}
			label += "9"
		}
	}
	// Minor ticks at p75, p95, p99.5, …: half-way marks on the nines scale.
	for _, p := range []float64{75, 95, 99.5, 99.95, 99.995, 99.9995} {
		if x := nines(p); x >= lo && x <= hi {
			ticks = append(ticks, plot.Tick{Value: x})
		}
	}
	return ticks
}

// logTicks125 labels a log axis at 1, 2 and 5 times powers of ten, with
// unlabelled minor ticks at the other integer multiples.
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = tickLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// tickLabel prints 0.05, 2, 1000 rather than 5e-02 or 1e+03.
func tickLabel(v float64) string {
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// trimFloat prints x with at most three decimals and no trailing zeros.
func trimFloat(x float64) string { return strconv.FormatFloat(round3(x), 'f', -1, 64) }
