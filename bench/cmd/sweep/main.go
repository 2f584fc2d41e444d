// Command sweep runs the contention benchmarks of scoped (package bench)
// with go test, prints their results as a markdown table with each
// variant's ops/s as a multiple of the INCR and WATCH/MULTI baselines of
// the same run, checks the engine's performance targets, and writes the
// chart (ops/s and retries/op against concurrency) and BENCHMARKS.md.
//
//	go run ./bench/cmd/sweep                   # the full matrix, 5 s per benchmark
//	go run ./bench/cmd/sweep -bench 'redis/hot' -benchtime 2s -out ''
//	go run ./bench/cmd/sweep -in saved.txt     # re-render saved go test output
//
// Only the generated section of BENCHMARKS.md (between its sweep markers)
// is rewritten. The sweep runs the increment matrix and its baselines
// (matrix); the other benchmarks of package bench, such as
// BenchmarkTransfer, are measured on their own.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

// config holds the command-line flags.
type config struct {
	bench     string
	benchtime string
	count     int
	passes    int
	timeout   string
	out       string
	svg       string
	in        string
	raw       string
}

// matrix selects the benchmarks whose names the sweep reads (parse.go).
const matrix = `^(BenchmarkBaseline|BenchmarkIncrement|BenchmarkIncrementProcs)$`

func main() {
	var cfg config
	flag.StringVar(&cfg.bench, "bench", matrix, "benchmarks to run, as go test -bench takes it (a regexp per /-separated level)")
	flag.StringVar(&cfg.benchtime, "benchtime", "5s", "time or iterations (100x) per benchmark, as go test -benchtime takes it")
	flag.IntVar(&cfg.count, "count", 1, "runs of each benchmark in a row; the table shows their medians")
	flag.IntVar(&cfg.passes, "passes", 1, "times to run the whole matrix, one pass after another, so that slow spells of a shared machine hit baselines and variants alike; the table shows medians")
	flag.StringVar(&cfg.timeout, "timeout", "60m", "timeout of go test")
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", "markdown file whose generated section is rewritten; empty for none")
	flag.StringVar(&cfg.svg, "svg", "bench/results.svg", "SVG chart to write; empty for none")
	flag.StringVar(&cfg.in, "in", "", "read go test -bench output from this file instead of running the benchmarks")
	flag.StringVar(&cfg.raw, "raw", "", "also save the raw go test output to this file")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/cmd/sweep [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := sweep(ctx, cfg, commandLine()); err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		os.Exit(1)
	}
}

// commandLine returns how the sweep was invoked, for the report.
func commandLine() string {
	parts := []string{"go run ./bench/cmd/sweep"}
	flag.Visit(func(f *flag.Flag) {
		parts = append(parts, fmt.Sprintf("-%s %s", f.Name, shellQuote(f.Value.String())))
	})
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sweep runs (or reads) the benchmarks and writes the reports.
func sweep(ctx context.Context, cfg config, invocation string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	args := []string{"test", "-v", "-run", "^$", "-bench", cfg.bench, "-benchtime", cfg.benchtime,
		"-count", fmt.Sprint(cfg.count), "-timeout", cfg.timeout, "./bench/..."}
	goTest := "go " + strings.Join(quoteAll(args), " ")

	started := time.Now()
	var output []byte
	var testErr error
	if cfg.in != "" {
		if output, err = os.ReadFile(cfg.in); err != nil {
			return err
		}
		goTest = "(output read from " + cfg.in + ")"
	} else {
		for pass := 1; pass <= max(cfg.passes, 1); pass++ {
			fmt.Fprintf(os.Stderr, "sweep: pass %d of %d: %s\n", pass, max(cfg.passes, 1), goTest)
			out, err := runGoTest(ctx, root, args)
			output = append(output, out...)
			testErr = errors.Join(testErr, err)
			if ctx.Err() != nil {
				break
			}
		}
		if cfg.passes > 1 {
			goTest = fmt.Sprintf("%s, %d times", goTest, cfg.passes)
		}
		if cfg.raw != "" {
			if err := os.WriteFile(cfg.raw, output, 0o644); err != nil {
				return err
			}
		}
	}
	elapsed := time.Since(started).Round(time.Second)

	rep, err := parse(bytes.NewReader(output))
	if err != nil {
		return errors.Join(testErr, err)
	}
	if len(rep.Results) == 0 {
		return errors.Join(testErr, errors.New("the benchmarks produced no results"))
	}
	ru := run{
		Machine:  describeMachine(ctx, rep.CPU),
		Date:     started.Format("2006-01-02 15:04 MST"),
		Command:  invocation,
		GoTest:   goTest,
		Duration: elapsed.String(),
	}

	if cfg.svg != "" {
		svgPath := filepath.Join(root, cfg.svg)
		if filepath.IsAbs(cfg.svg) {
			svgPath = cfg.svg
		}
		title := fmt.Sprintf("scoped: contended increments of a msgpack counter (%d CPUs, %s, %s)", ru.Machine.CPUs, ru.Machine.Redis, started.Format("2006-01-02"))
		if err := writeFile(svgPath, func(w io.Writer) error { return writeSVG(w, rep, title) }); err != nil {
			return err
		}
		ru.Chart = cfg.svg
		if cfg.out != "" {
			if rel, err := filepath.Rel(filepath.Dir(filepath.Join(root, cfg.out)), svgPath); err == nil {
				ru.Chart = filepath.ToSlash(rel)
			}
		}
	}
	var section strings.Builder
	writeSection(&section, rep, ru)
	fmt.Print(section.String())
	if cfg.out != "" {
		outPath := cfg.out
		if !filepath.IsAbs(outPath) {
			outPath = filepath.Join(root, outPath)
		}
		if err := updateFile(outPath, section.String()); err != nil {
			return err
		}
	}
	if testErr != nil {
		return fmt.Errorf("go test: %w (the reports show what finished)", testErr)
	}
	if len(rep.Failed) > 0 {
		return fmt.Errorf("%d benchmarks failed", len(rep.Failed))
	}
	return nil
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the scoped module: run the sweep from its directory")
	}
	return filepath.Dir(mod), nil
}

// runGoTest runs go with args in dir, copying its output to stderr as it
// comes, and returns that output.
func runGoTest(ctx context.Context, dir string, args []string) ([]byte, error) {
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	return buf.Bytes(), err
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return out
}

// writeFile writes path through write, creating its directory.
func writeFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
