package main

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// series is one line of the chart: a variant measured at several
// concurrencies.
type series struct {
	Label    string
	Baseline bool
	Color    string
	Dash     string // stroke-dasharray; empty for a solid line
	Width    float64
	Marker   string // circle, square, diamond or triangle
	Line     bool   // whether the points are joined
	Points   []*result
}

var backendColors = map[string]string{"redis": "#d62728", "file": "#1f77b4", "mysql": "#2ca02c", "postgres": "#9467bd"}

// seriesOf groups the results of rep into the chart's lines: one per
// baseline, per backend and contention, and per cross-process layout.
func seriesOf(rep *report) []*series {
	var out []*series
	byKey := map[string]*series{}
	procsMarkers := map[string]int{}
	for _, r := range sorted(rep.Results) {
		key := r.Kind + "/" + r.Backend + "/" + r.Contention
		if r.Kind == kindProcs {
			key += fmt.Sprintf("/%dx%d", r.Procs, r.Goroutines)
		}
		s := byKey[key]
		if s == nil {
			s = newSeries(r, procsMarkers)
			byKey[key] = s
			out = append(out, s)
		}
		s.Points = append(s.Points, r)
	}
	for _, s := range out {
		slices.SortFunc(s.Points, func(a, b *result) int { return cmp.Compare(a.Concurrency(), b.Concurrency()) })
	}
	return out
}

func newSeries(r *result, procsMarkers map[string]int) *series {
	color := cmp.Or(backendColors[r.Backend], "#8c564b")
	switch r.Kind {
	case kindIncr:
		return &series{Label: "INCR", Baseline: true, Color: "#000000", Width: 3.5, Marker: "square", Line: true}
	case kindWatchMulti:
		s := &series{Label: "WATCH/MULTI " + r.Contention, Baseline: true, Color: "#8c8c8c", Width: 3.5, Marker: "square", Line: true}
		if r.Contention == perScopeName {
			s.Dash = "7 4"
		}
		return s
	case kindProcs:
		markers := []string{"diamond", "triangle", "square"}
		m := markers[procsMarkers[r.Backend]%len(markers)]
		procsMarkers[r.Backend]++
		return &series{Label: fmt.Sprintf("%s %s, %d procs × %d", r.Backend, r.Contention, r.Procs, r.Goroutines), Color: color, Width: 2, Marker: m}
	default:
		s := &series{Label: r.Backend + " " + r.Contention, Color: color, Width: 2, Marker: "circle", Line: true}
		if r.Contention == perScopeName {
			s.Dash = "7 4"
		}
		return s
	}
}

// Layout of the chart, in pixels.
const (
	chartWidth  = 1140
	chartHeight = 480
	plotTop     = 60
	plotBottom  = 400
	plotWidth   = 350
	legendX     = 905
)

var panelLefts = [2]float64{75, 525}

// retriesFloor is the smallest retries/op the chart shows; smaller values,
// zero included, are drawn on the bottom line.
const retriesFloor = 1e-3

// logScale maps values to pixels logarithmically.
type logScale struct {
	lo, hi     float64 // log of the ends of the domain
	from, to   float64 // pixels of the ends
	base       float64
	floorValue float64 // values below are drawn at it; 0 for none
}

func (s logScale) pos(v float64) float64 {
	v = math.Max(v, s.floorValue)
	l := math.Log(v) / math.Log(s.base)
	return s.from + (l-s.lo)/(s.hi-s.lo)*(s.to-s.from)
}

// writeSVG draws ops/s and retries/op against concurrency, one line per
// series, the baselines dark and thick.
func writeSVG(w io.Writer, rep *report, title string) error {
	all := seriesOf(rep)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", 20, html.EscapeString(title))

	concurrencies := map[int]bool{}
	for _, r := range rep.Results {
		concurrencies[r.Concurrency()] = true
	}
	xticks := slices.Sorted(func(yield func(int) bool) {
		for c := range concurrencies {
			if !yield(c) {
				return
			}
		}
	})
	maxC := 2.0
	if len(xticks) > 0 {
		maxC = math.Max(maxC, float64(xticks[len(xticks)-1]))
	}

	panels := []struct {
		title string
		unit  string
		floor float64
	}{
		{"increments per second, ops/s (log scale)", unitOpsPerSec, 0},
		{"retries per increment, retries/op (log scale)", unitRetries, retriesFloor},
	}
	for i, p := range panels {
		left := panelLefts[i]
		x := logScale{lo: 0, hi: math.Log2(maxC), from: left, to: left + plotWidth, base: 2}
		lo, hi := decadeRange(all, p.unit, p.floor)
		y := logScale{lo: lo, hi: hi, from: plotBottom, to: plotTop, base: 10, floorValue: p.floor}
		drawAxes(&b, x, y, xticks, p.title, p.floor)
		for _, s := range all {
			drawSeries(&b, s, x, y, p.unit)
		}
	}
	drawLegend(&b, all)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// decadeRange returns the logs of the powers of ten enclosing every value
// of unit, at least one decade apart, and not below floor.
func decadeRange(all []*series, unit string, floor float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range all {
		for _, r := range s.Points {
			if v, ok := r.Metric(unit); ok {
				v = math.Max(v, floor)
				if v <= 0 {
					continue
				}
				lo, hi = math.Min(lo, math.Log10(v)), math.Max(hi, math.Log10(v))
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if floor > 0 {
		lo, hi = math.Log10(floor), math.Max(hi, 0)
	}
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

func drawAxes(b *strings.Builder, x, y logScale, xticks []int, title string, floor float64) {
	left, right := x.from, x.to
	fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", left, plotTop-12, html.EscapeString(title))
	for d := y.lo; d <= y.hi+1e-9; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if d+math.Log10(m) > y.hi+1e-9 {
				break
			}
			py := y.pos(v)
			stroke := "#e4e4e4"
			if m == 1 {
				stroke = "#bdbdbd"
				label := formatTick(v)
				if floor > 0 && v <= floor {
					label = "≤ " + label
				}
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, py, html.EscapeString(label))
			}
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", left, py, right, py, stroke)
		}
	}
	for _, c := range xticks {
		px := x.pos(float64(c))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", px, plotTop, px, plotBottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", px, plotBottom+18, c)
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="none" stroke="#333"/>`+"\n", left, plotTop, right-left, plotBottom-plotTop)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">goroutines incrementing (all processes, log scale)</text>`+"\n", (left+right)/2, plotBottom+40)
}

// formatTick formats a power of ten (or 2 or 5 times one) briefly.
func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

func drawSeries(b *strings.Builder, s *series, x, y logScale, unit string) {
	class := "variant"
	if s.Baseline {
		class = "baseline"
	}
	fmt.Fprintf(b, `<g class="%s" data-label="%s" data-unit="%s">`+"\n", class, html.EscapeString(s.Label), unit)
	var pts [][2]float64
	for _, r := range s.Points {
		if v, ok := r.Metric(unit); ok {
			pts = append(pts, [2]float64{x.pos(float64(r.Concurrency())), y.pos(v)})
		}
	}
	if s.Line && len(pts) > 1 {
		coords := make([]string, len(pts))
		for i, p := range pts {
			coords[i] = fmt.Sprintf("%.1f,%.1f", p[0], p[1])
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s stroke-linecap="round"/>`+"\n",
			strings.Join(coords, " "), s.Color, s.Width, dashAttr(s))
	}
	for _, p := range pts {
		drawMarker(b, s.Marker, p[0], p[1], s.Color)
	}
	b.WriteString("</g>\n")
}

func drawMarker(b *strings.Builder, marker string, x, y float64, color string) {
	const r = 4.5
	switch marker {
	case "square":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x-r+0.5, y-r+0.5, 2*r-1, 2*r-1, color)
	case "diamond":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="white"/>`+"\n",
			x, y-r-1.5, x+r+1.5, y, x, y+r+1.5, x-r-1.5, y, color)
	case "triangle":
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="white"/>`+"\n",
			x, y-r-1.5, x+r+1.5, y+r, x-r-1.5, y+r, color)
	default:
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`+"\n", x, y, r, color)
	}
}

func drawLegend(b *strings.Builder, all []*series) {
	fmt.Fprintf(b, `<g class="legend">`+"\n")
	y := float64(plotTop - 12)
	for _, group := range []struct {
		heading  string
		baseline bool
	}{{"baselines, same Redis", true}, {"scoped engine", false}} {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", legendX, y, group.heading)
		y += 20
		for _, s := range all {
			if s.Baseline != group.baseline {
				continue
			}
			if s.Line {
				fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"%s stroke-linecap="round"/>`+"\n",
					legendX, y, legendX+34, y, s.Color, s.Width, dashAttr(s))
			}
			drawMarker(b, s.Marker, legendX+17, y, s.Color)
			fmt.Fprintf(b, `<text x="%d" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", legendX+42, y, html.EscapeString(s.Label))
			y += 20
		}
		y += 8
	}
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#555">dashed: one scope per goroutine;</text>`+"\n", legendX, y)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#555">solid: one hot scope for all.</text>`+"\n", legendX, y+16)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#555">Retries ≤ %g, zero included,</text>`+"\n", legendX, y+36, retriesFloor)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#555">lie on the bottom line.</text>`+"\n", legendX, y+52)
	b.WriteString("</g>\n")
}

// dashAttr returns the stroke-dasharray attribute of s, if it is dashed.
func dashAttr(s *series) string {
	if s.Dash == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, s.Dash)
}
