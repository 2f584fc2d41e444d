package main

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// svgSeries is one series group of the chart, as parsed back.
type svgSeries struct {
	Class, Label, Unit string
	Line               []point // the polyline, if any
	Markers            int
}

type point struct{ X, Y float64 }

// parseSVG checks that svg is well-formed XML and returns its series
// groups and all its text.
func parseSVG(t *testing.T, svg string) ([]svgSeries, string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var out []svgSeries
	var text strings.Builder
	var cur *svgSeries
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch {
			case el.Name.Local == "g" && attr("data-label") != "":
				out = append(out, svgSeries{Class: attr("class"), Label: attr("data-label"), Unit: attr("data-unit")})
				cur = &out[len(out)-1]
			case cur != nil && el.Name.Local == "polyline":
				for _, p := range strings.Fields(attr("points")) {
					x, y, _ := strings.Cut(p, ",")
					px, err1 := strconv.ParseFloat(x, 64)
					py, err2 := strconv.ParseFloat(y, 64)
					if err1 != nil || err2 != nil {
						t.Fatalf("bad point %q", p)
					}
					cur.Line = append(cur.Line, point{px, py})
				}
			case cur != nil:
				cur.Markers++
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				cur = nil
			}
		case xml.CharData:
			text.Write(el)
		}
	}
	return out, text.String()
}

func TestWriteSVG(t *testing.T) {
	var b strings.Builder
	if err := writeSVG(&b, parseSample(t), "a <title> & more"); err != nil {
		t.Fatal(err)
	}
	groups, text := parseSVG(t, b.String())
	if !strings.Contains(text, "a <title> & more") {
		t.Errorf("title missing or mangled")
	}
	// 3 baselines + 2 engine lines + 1 cross-process layout, in 2 panels.
	byKey := map[string]svgSeries{}
	for _, g := range groups {
		byKey[g.Unit+" "+g.Label] = g
	}
	if len(groups) != 12 || len(byKey) != 12 {
		t.Fatalf("%d series groups (%d distinct), want 12", len(groups), len(byKey))
	}
	for _, label := range []string{"INCR", "WATCH/MULTI hot", "WATCH/MULTI per-scope"} {
		if g := byKey["ops/s "+label]; g.Class != "baseline" {
			t.Errorf("%s has class %q, want baseline", label, g.Class)
		}
		if !strings.Contains(text, label) {
			t.Errorf("legend lacks %s", label)
		}
	}
	// Faster is higher: INCR goes from 50k to 200k ops/s, so its line rises
	// (y decreases) from 1 to 64 goroutines, left to right.
	incr := byKey["ops/s INCR"].Line
	if len(incr) != 2 || !(incr[0].X < incr[1].X && incr[0].Y > incr[1].Y) {
		t.Errorf("INCR line %v does not rise to the right", incr)
	}
	// The hot engine line ends higher than the INCR one at 64 goroutines
	// (700k against 200k ops/s).
	hot := byKey["ops/s redis hot"].Line
	if len(hot) != 2 || hot[1].Y >= incr[1].Y || hot[1].X != incr[1].X {
		t.Errorf("redis hot line %v not above INCR %v at 64", hot, incr)
	}
	// Zero retries lie on the floor, the same line as 0.001.
	if r := byKey["retries/op INCR"].Line; len(r) != 2 || r[0].Y != plotBottom || r[1].Y != plotBottom {
		t.Errorf("INCR's zero retries drawn at %v, want y=%d", r, plotBottom)
	}
	// A cross-process layout is one marker, no line, in each panel.
	if p := byKey["ops/s redis hot, 2 procs × 32"]; p.Markers != 1 || p.Line != nil {
		t.Errorf("cross-process series = %+v, want one marker and no line", p)
	}
}

func TestDecadeRange(t *testing.T) {
	rep := parseSample(t)
	all := seriesOf(rep)
	if lo, hi := decadeRange(all, unitOpsPerSec, 0); lo != 3 || hi != 6 {
		t.Errorf("ops/s decades = %v..%v, want 3..6 (2,000 to 800,000)", lo, hi)
	}
	if lo, hi := decadeRange(all, unitRetries, retriesFloor); lo != -3 || hi != 1 {
		t.Errorf("retries decades = %v..%v, want -3..1 (floor to 8)", lo, hi)
	}
	if lo, hi := decadeRange(nil, unitOpsPerSec, 0); lo != 0 || hi != 1 {
		t.Errorf("empty decades = %v..%v, want 0..1", lo, hi)
	}
}
