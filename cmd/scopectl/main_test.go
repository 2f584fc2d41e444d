package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/storeurl"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// binary is the scopectl command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scopectl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "scopectl")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building scopectl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the command left.
type result struct {
	stdout, stderr string
	code           int
}

// scopectl runs the command with args, stdin and $SCOPED_STORE set to
// store, as a shell would.
func scopectl(t *testing.T, store, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SCOPED_STORE="+store)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("scopectl %q: %v", args, err)
	}
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	if r.stderr != "" && (!strings.HasPrefix(r.stderr, "scopectl: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n")) {
		t.Errorf("scopectl %q: stderr is not one line prefixed scopectl: %q", args, r.stderr)
	}
	return r
}

// expect checks a result's exit code and stdout, and that stderr is empty
// on success and holds a message otherwise.
func expect(t *testing.T, r result, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout || (r.stderr == "") != (code == 0) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q", r.code, r.stdout, r.stderr, code, stdout)
	}
}

// backend is a test server for the command: its store argument, and a
// check that no scope of the prefix is left there once cleaned up.
type backend struct {
	name  string
	store func(t *testing.T) (url string, leftBehind func(prefix string) []string)
}

var backends = []backend{
	{"file", func(t *testing.T) (string, func(string) []string) {
		return t.TempDir(), nil
	}},
	{"redis", func(t *testing.T) (string, func(string) []string) {
		c := testenv.Redis(t) // skips the test if the server does not answer
		return "redis://" + testenv.RedisAddr() + "/0", func(prefix string) []string {
			var keys []string
			it := c.Scan(context.Background(), 0, redisstore.DefaultPrefix+prefix+"*", 1000).Iterator()
			for it.Next(context.Background()) {
				keys = append(keys, it.Val())
			}
			if err := it.Err(); err != nil {
				t.Errorf("scanning for keys left behind: %v", err)
			}
			return keys
		}
	}},
	{"mysql", func(t *testing.T) (string, func(string) []string) {
		testenv.MySQL(t) // skips the test if the server does not answer
		return testenv.MySQLDSN(), nil
	}},
	{"postgres", func(t *testing.T) (string, func(string) []string) {
		testenv.Postgres(t) // skips the test if the server does not answer
		return testenv.PostgresURL(), nil
	}},
}

// scopes returns a function that makes the names of a test's scopes unique
// on a shared server, and deletes them at cleanup.
func scopes(t *testing.T, store string, leftBehind func(prefix string) []string) func(string) string {
	prefix := testenv.UniqueName("scopectl_test_") + "/"
	var names []string
	t.Cleanup(func() {
		st, err := storeurl.Open(context.Background(), store, storeurl.WithPool(2))
		if err != nil {
			t.Errorf("cleaning up: %v", err)
			return
		}
		defer st.Close()
		e := scoped.New(st.Store)
		defer e.Close(context.Background())
		for _, name := range names {
			if err := e.Delete(context.Background(), name); err != nil {
				t.Errorf("cleaning up %q: %v", name, err)
			}
		}
		if leftBehind != nil {
			if left := leftBehind(prefix); len(left) > 0 {
				t.Errorf("left behind: %q", left)
			}
		}
	})
	return func(s string) string {
		names = append(names, prefix+s)
		return prefix + s
	}
}

func TestCommands(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store, leftBehind := b.store(t)
			scope := scopes(t, store, leftBehind)
			run := func(stdin string, args ...string) result { return scopectl(t, store, stdin, args...) }

			t.Run("round trip", func(t *testing.T) {
				name := scope("été ☃/round trip")
				in := `{"big": 18446744073709551615, "min": -9223372036854775808, "over53": 9007199254740993,
					"float": 2.5, "whole float": 3.0, "exp": 1e300, "text": "été ☃ 𝄞 <&>", "yes": true, "none": null,
					"nested": {"list": [1, "two", [3.5], {"four": 4}], "empty": {}}}`
				want := `{"big":18446744073709551615,"exp":1e+300,"float":2.5,"min":-9223372036854775808,` +
					`"nested":{"empty":{},"list":[1,"two",[3.5],{"four":4}]},"none":null,"over53":9007199254740993,` +
					`"text":"été ☃ 𝄞 <&>","whole float":3.0,"yes":true}` + "\n"
				expect(t, run("", "set", name, in), 0, "")
				expect(t, run("", "get", name), 0, want)
				expect(t, run(want, "set", name, "-"), 0, "") // what get prints, set takes back unchanged
				expect(t, run("", "get", name), 0, want)
			})

			t.Run("set replaces the fields", func(t *testing.T) {
				name := scope("replace")
				expect(t, run(`{"a": 1, "b": 2}`, "set", name, "-"), 0, "")
				expect(t, run("", "set", name, `{"b": "three"}`), 0, "")
				expect(t, run("", "get", name), 0, `{"b":"three"}`+"\n")
				expect(t, run("", "set", name, `{}`), 0, "")
				expect(t, run("", "get", name), 0, "{}\n")
			})

			t.Run("get of a missing scope", func(t *testing.T) {
				r := run("", "get", scope("never written"))
				expect(t, r, 1, "")
				if !strings.Contains(r.stderr, "does not exist") {
					t.Errorf("stderr %q", r.stderr)
				}
				expect(t, run("", "set", scope("empty"), "{}"), 0, "")
				expect(t, run("", "get", scope("empty")), 1, "") // {} on a missing scope writes nothing
			})

			t.Run("bad JSON writes nothing", func(t *testing.T) {
				name := scope("bad json")
				for _, in := range []string{`{"a": 1`, `[1]`, `null`, `{"a": 1} {}`, `{"a": 1e999}`,
					`{"a": 100000000000000000000}`, `{"a": 1, "b": -9223372036854775809}`, ``} {
					expect(t, run("", "set", name, in), 2, "")
					expect(t, run(in, "set", name, "-"), 2, "")
				}
				expect(t, run("", "get", name), 1, "")
				expect(t, run("", "set", name, `{"a": 1}`), 0, "")
				expect(t, run("", "set", name, `{"a": 2`), 2, "")
				expect(t, run("", "get", name), 0, `{"a":1}`+"\n")
			})

			t.Run("delete", func(t *testing.T) {
				name := scope("delete")
				expect(t, run("", "set", name, `{"a": 1}`), 0, "")
				expect(t, run("", "delete", name), 0, "")
				expect(t, run("", "get", name), 1, "")
				expect(t, run("", "delete", name), 0, "") // a missing scope: success
			})

			t.Run("invalid names", func(t *testing.T) {
				for _, name := range []string{"", "\xff", strings.Repeat("x", scoped.MaxNameLength+1)} {
					expect(t, run("", "get", name), 2, "")
					expect(t, run("", "set", name, `{"a": 1}`), 2, "")
					expect(t, run("", "delete", name), 2, "")
				}
			})

			t.Run("list", func(t *testing.T) {
				names := []string{scope("list/b"), scope("list/a"), scope("list/line\nbreak")}
				for _, name := range names {
					expect(t, run("", "set", name, `{"a": 1}`), 0, "")
				}
				prefix := strings.TrimSuffix(names[0], "b")
				r := run("", "-0", "list", prefix)
				got := strings.Split(strings.TrimSuffix(r.stdout, "\x00"), "\x00")
				slices.Sort(got)
				want := slices.Sorted(slices.Values(names))
				if r.code != 0 || !slices.Equal(got, want) || !strings.HasSuffix(r.stdout, "\x00") {
					t.Errorf("list -0 %q: exit %d, names %q; want exit 0, names %q", prefix, r.code, got, want)
				}
				lines := strings.Split(strings.TrimSuffix(run("", "list", prefix+"a").stdout, "\n"), "\n")
				if !slices.Equal(lines, []string{names[1]}) {
					t.Errorf("list %q printed %q, want the one name", prefix+"a", lines)
				}
				expect(t, run("", "list", prefix+"nothing"), 0, "")
				expect(t, run("", "list", "a", "b"), 2, "")
			})

			t.Run("ttl", func(t *testing.T) {
				name := scope("ttl")
				expect(t, run("", "ttl", name), 1, "")
				expect(t, run("", "ttl", name, "1h"), 1, "") // a missing scope is not created
				expect(t, run("", "get", name), 1, "")
				expect(t, run("", "set", name, `{"a": 1}`), 0, "")
				expect(t, run("", "ttl", name), 0, "none\n")
				expect(t, run("", "ttl", name, "1h"), 0, "")
				expect(t, run("", "set", name, `{"a": 2}`), 0, "") // a set keeps the expiry
				r := run("", "ttl", name)
				left, err := time.ParseDuration(strings.TrimSpace(r.stdout))
				if r.code != 0 || err != nil || left <= 50*time.Minute || left > time.Hour {
					t.Errorf("ttl after ttl 1h: exit %d, stdout %q; want a duration just under 1h", r.code, r.stdout)
				}
				expect(t, run("", "ttl", name, "none"), 0, "")
				expect(t, run("", "ttl", name), 0, "none\n")
				for _, bad := range []string{"soon", "0s", "-5m", "1"} {
					expect(t, run("", "ttl", name, bad), 2, "")
				}
				expect(t, run("", "ttl", name, "200ms"), 0, "")
				time.Sleep(300 * time.Millisecond)
				expect(t, run("", "get", name), 1, "") // expired
			})

			t.Run("the flag wins over the environment", func(t *testing.T) {
				name := scope("flag")
				expect(t, scopectl(t, "redis://127.0.0.1:1/0", "", "-store", store, "set", name, `{"a": 1}`), 0, "")
				expect(t, run("", "get", name), 0, `{"a":1}`+"\n")
			})
		})
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		store string
		args  []string
	}{
		{dir, nil},
		{dir, []string{"frobnicate"}},
		{dir, []string{"list", "a", "b"}},
		{dir, []string{"ttl"}},
		{dir, []string{"ttl", "a", "1h", "x"}},
		{dir, []string{"get"}},
		{dir, []string{"get", "a", "b"}},
		{dir, []string{"set", "a"}},
		{dir, []string{"-nosuchflag", "get", "a"}},
		{dir, []string{"-timeout", "0s", "get", "a"}},
		{"", []string{"get", "a"}},
		{"redis://h:1/x", []string{"get", "a"}},
	} {
		expect(t, scopectl(t, tc.store, "", tc.args...), 2, "")
	}
	r := scopectl(t, dir, "", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "exit codes:") || r.stderr != "" {
		t.Errorf("-h: %+v", r)
	}
}

func TestUnreachableStore(t *testing.T) {
	for _, args := range [][]string{{"get", "a"}, {"set", "a", `{"a": 1}`}, {"delete", "a"}} {
		start := time.Now()
		r := scopectl(t, "redis://127.0.0.1:1/0", "", args...)
		expect(t, r, 3, "")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q took %v", args, d)
		}
	}
	start := time.Now()
	expect(t, scopectl(t, "redis://127.0.0.1:1/0", "", "-timeout", "200ms", "get", "a"), 3, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("-timeout 200ms took %v", d)
	}
}

func TestFail(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("scope %q %w", "a", errMissing), 1, `scopectl: scope "a" does not exist`},
		{usagef("bad"), 2, "scopectl: bad"},
		{scoped.ValidateName(""), 2, "scopectl: scoped: invalid scope name"},
		{&scoped.ValueTooLargeError{Scope: "a", Size: 2, Limit: 1}, 2, "scopectl: scoped: scope"},
		{fmt.Errorf("set: %w", &scoped.CommitUnknownError{Scope: "a", Cause: errors.New("conn\nreset")}), 3,
			`scopectl: outcome unknown: the write to scope "a" may or may not have happened: conn reset`},
		{fmt.Errorf("x: %w", scoped.ErrNotApplied), 3, "scopectl: x: scoped: change not applied"},
		{context.DeadlineExceeded, 3, "scopectl: context deadline exceeded"},
	} {
		var b strings.Builder
		code := fail(&b, tc.err)
		if code != tc.code || !strings.HasPrefix(b.String(), tc.want) || strings.Count(b.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit %d, %q", tc.err, code, b.String(), tc.code, tc.want)
		}
	}
}
