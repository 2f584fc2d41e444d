package main

import (
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	section := beginMarker + "\nnew\n" + endMarker + "\n"
	tests := []struct{ name, doc, want string }{
		{"new file", "", "# Benchmarks\n\n" + section},
		{"no section yet", "# Benchmarks\n\nnotes\n", "# Benchmarks\n\nnotes\n\n" + section},
		{"replaced, notes kept", "intro\n" + beginMarker + "\nold\n" + endMarker + "\nnotes\n", "intro\n" + section + "notes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceSection(tt.doc, section)
			if err != nil || got != tt.want {
				t.Fatalf("replaceSection = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, doc := range []string{"x\n" + endMarker + "\n", endMarker + beginMarker, beginMarker + "\n"} {
		if _, err := replaceSection(doc, section); err == nil {
			t.Errorf("replaceSection(%q) accepted broken markers", doc)
		}
	}
}

// The section states the machine and command, holds the table and the
// targets, and lists what did not finish.
func TestWriteSection(t *testing.T) {
	var b strings.Builder
	writeSection(&b, parseSample(t), run{
		Machine: machine{CPUs: 2, CPUModel: "Test CPU", Go: "go1.26.0", Redis: "Redis 7.0.15", MySQL: "MySQL 10.11", Postgres: "PostgreSQL 15.20"},
		Command: "go run ./bench/cmd/sweep", GoTest: "go test ...", Date: "today", Duration: "1m", Chart: "bench/results.svg",
	})
	out := b.String()
	for _, want := range []string{
		beginMarker, endMarker, "Medians over the 1 to 2 runs of each benchmark", "2 CPUs (Test CPU)", "Go 1.26.0, Redis 7.0.15, MySQL 10.11, PostgreSQL 15.20", "`go run ./bench/cmd/sweep`",
		"| `Increment/redis/hot/g64` |", "](bench/results.svg)", "| hot, Redis, 64 goroutines: ≥ 2× INCR ops/s | 3.50× | met |",
		"- `IncrementProcs/redis/hot/p4xg16` failed: procs_test.go:123:", "- `Increment/mysql/hot/g1` skipped: increment_test.go:80:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q", want)
		}
	}
	if _, err := replaceSection(out, out); err != nil {
		t.Errorf("the section does not replace itself: %v", err)
	}
}
