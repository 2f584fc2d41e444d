package scoped_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
)

// setFields writes the given fields into the scope name with Run.
func setFields(t *testing.T, e *scoped.Engine, name string, fields map[string]any) {
	t.Helper()
	if _, err := scoped.Run(t.Context(), e, name, func(s *scoped.Scope) (struct{}, error) {
		for k, v := range fields {
			if err := s.Set(k, v); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt fails unless err is a *scoped.CorruptValueError whose message
// holds each of parts.
func wantCorrupt(t *testing.T, err error, parts ...string) {
	t.Helper()
	var cve *scoped.CorruptValueError
	if !errors.Is(err, scoped.ErrCorruptValue) || !errors.As(err, &cve) {
		t.Fatalf("err = %v; want a *CorruptValueError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %v; want it to name %q", err, p)
		}
	}
}

type level int8

func TestGetRefusesNarrowing(t *testing.T) {
	e, _ := newEngine(t)
	setFields(t, e, "s", map[string]any{
		"big":  300,
		"neg":  -1,
		"huge": int64(1) << 40,
		"list": []int{1, 300},
		"obj":  map[string]any{"X": 300, "Y": []int{-2}},
	})
	tests := []struct {
		name  string
		get   func(s *scoped.Scope) error
		parts []string // what the error names; none for success
	}{
		{"int8", func(s *scoped.Scope) error { _, err := scoped.Get[int8](s, "big"); return err }, []string{`"big"`, "300", "int8"}},
		{"named int8", func(s *scoped.Scope) error { _, err := scoped.Get[level](s, "big"); return err }, []string{"300", "scoped_test.level"}},
		{"uint", func(s *scoped.Scope) error { _, err := scoped.Get[uint](s, "neg"); return err }, []string{`"neg"`, "-1", "uint"}},
		{"int32", func(s *scoped.Scope) error { _, err := scoped.Get[int32](s, "huge"); return err }, []string{"1099511627776", "int32"}},
		{"slice", func(s *scoped.Scope) error { _, err := scoped.Get[[]int8](s, "list"); return err }, []string{"300 at [1]", "int8"}},
		{"struct", func(s *scoped.Scope) error { _, err := scoped.Get[struct{ X int8 }](s, "obj"); return err }, []string{"300 at .X", "int8"}},
		{"nested unsigned", func(s *scoped.Scope) error {
			_, err := scoped.Get[struct {
				X int
				Y []uint
			}](s, "obj")
			return err
		}, []string{"-2 at .Y[0]", "uint"}},
		{"wide enough", func(s *scoped.Scope) error {
			n, err := scoped.Get[int16](s, "big")
			if err == nil && n != 300 {
				t.Errorf("Get[int16] = %d", n)
			}
			return err
		}, nil},
		{"any", func(s *scoped.Scope) error {
			v, err := scoped.Get[any](s, "huge")
			if err == nil && v != any(uint64(1)<<40) {
				t.Errorf("Get[any] = %#v", v)
			}
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scoped.View(t.Context(), e, "s", func(s *scoped.Scope) (struct{}, error) {
				return struct{}{}, tt.get(s)
			})
			if tt.parts == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCorrupt(t, err, tt.parts...)
		})
	}
}

type bigOnly struct {
	Big int8 `msgpack:"big"`
}

func TestReadAndUpdateRefuseNarrowing(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	setFields(t, e, "s", map[string]any{"big": 300})
	_, err := scoped.Read[bigOnly](ctx, e, "s")
	wantCorrupt(t, err, "300 at .big", "int8")
	_, err = scoped.Update(ctx, e, "s", func(v *bigOnly) (int8, error) {
		t.Error("Update ran its handler on a value it could not decode")
		return v.Big, nil
	})
	wantCorrupt(t, err, "300 at .big", "int8")
	got, err := scoped.Read[struct {
		Big int `msgpack:"big"`
	}](ctx, e, "s")
	if err != nil || got.Big != 300 {
		t.Fatalf("after the refused Update, big = %d, %v; want 300 as it was", got.Big, err)
	}
}

// Until Update decodes with decodeKnown and reports *UnknownFieldError, the
// "unknown" cases of this test fail: Update drops the fields.
func TestUpdateRefusesUnknownFields(t *testing.T) {
	type tagged struct {
		N int `msgpack:"n"`
	}
	type all struct {
		N    int    `msgpack:"n"`
		Keep string `msgpack:"keepme"`
	}
	type nested struct {
		Inner struct{ A int }
	}
	tests := []struct {
		name    string
		fields  map[string]any
		update  func(ctx context.Context, e *scoped.Engine) error
		unknown bool
	}{
		{"issue: N knows neither n nor keepme", map[string]any{"n": 1, "keepme": "x"}, func(ctx context.Context, e *scoped.Engine) error {
			_, err := scoped.Update(ctx, e, "s", func(v *struct{ N int }) (int, error) { v.N++; return v.N, nil })
			return err
		}, true},
		{"tagged n, keepme unknown", map[string]any{"n": 1, "keepme": "x"}, func(ctx context.Context, e *scoped.Engine) error {
			_, err := scoped.Update(ctx, e, "s", func(v *tagged) (int, error) { v.N++; return v.N, nil })
			return err
		}, true},
		{"nested", map[string]any{"Inner": map[string]any{"A": 1, "B": 2}}, func(ctx context.Context, e *scoped.Engine) error {
			_, err := scoped.Update(ctx, e, "s", func(v *nested) (int, error) { v.Inner.A++; return v.Inner.A, nil })
			return err
		}, true},
		{"all known", map[string]any{"n": 1, "keepme": "x"}, func(ctx context.Context, e *scoped.Engine) error {
			_, err := scoped.Update(ctx, e, "s", func(v *all) (int, error) { v.N++; return v.N, nil })
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t)
			ctx := t.Context()
			setFields(t, e, "s", tt.fields)
			before, err := scoped.Read[map[string]any](ctx, e, "s")
			if err != nil {
				t.Fatal(err)
			}
			err = tt.update(ctx, e)
			if !tt.unknown {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ufe *scoped.UnknownFieldError
			if !errors.Is(err, scoped.ErrUnknownField) || !errors.As(err, &ufe) {
				t.Errorf("Update = %v; want a *UnknownFieldError", err)
			}
			if errors.Is(err, scoped.ErrCorruptValue) {
				t.Errorf("Update = %v; an unknown field is not a corrupt value", err)
			}
			after, err := scoped.Read[map[string]any](ctx, e, "s")
			if err != nil || !reflect.DeepEqual(after, before) {
				t.Errorf("after the refused Update the scope holds %v, %v; want %v as it was", after, err, before)
			}
		})
	}
}
