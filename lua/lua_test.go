package lua_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/scoped-go/scoped/lua"
)

// The scripts keep to what runs the same on Redis 7 and on miniredis's
// gopher-lua (see STYLE.md): no libraries miniredis lacks, no goto, no
// globals, keys only through KEYS[] (the single-scope scripts only through
// KEYS[1]).
func TestScriptsKeepToPortableLua(t *testing.T) {
	forbidden := regexp.MustCompile(`\b(goto|cmsgpack|cjson|bit|struct|redis\.sha1hex|redis\.setresp|redis\.breakpoint|redis\.debug)\b`)
	otherKey := regexp.MustCompile(`\bKEYS\[[^1]`)
	global := regexp.MustCompile(`(?m)^[a-zA-Z_][a-zA-Z0-9_]*\s*=[^=]`)
	for name, src := range map[string]string{"load.lua": lua.Load(), "cas.lua": lua.CAS(), "casmany.lua": lua.CASMany()} {
		code := stripComments(src)
		if strings.TrimSpace(code) == "" {
			t.Errorf("%s is empty", name)
		}
		if m := forbidden.FindString(code); m != "" {
			t.Errorf("%s uses %q", name, m)
		}
		if m := otherKey.FindString(code); m != "" && name != "casmany.lua" {
			t.Errorf("%s uses %q: a script of one scope has one key", name, m)
		}
		if m := global.FindString(code); m != "" {
			t.Errorf("%s assigns a global: %q", name, m)
		}
	}
}

// stripComments drops the -- comments of src (the scripts have no long
// strings or long comments).
func stripComments(src string) string {
	var b strings.Builder
	for line := range strings.Lines(src) {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}
