package engine

import (
	"reflect"
	"testing"
)

// TestHoldCopiesEveryWindowColumn: a held window (hold.go) takes every per-window column of
// the previous row, so a column added to the row builder cannot be forgotten there: a row
// would mix windows from two moments.
func TestHoldCopiesEveryWindowColumn(t *testing.T) {
	check := func(name string, hold func(r, p reflect.Value, w Window), typ reflect.Type) {
		for w := Window(0); w < NumWindows; w++ {
			r, p := reflect.New(typ), reflect.New(typ)
			columns := 0
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				if f.Type.Kind() != reflect.Array || f.Type.Len() != int(NumWindows) {
					continue
				}
				columns++
				setNonZero(p.Elem().Field(i).Index(int(w)), i+1)
			}
			if columns == 0 {
				t.Fatalf("%s has no per-window columns: the test proves nothing", name)
			}
			hold(r, p, w)
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				if f.Type.Kind() != reflect.Array || f.Type.Len() != int(NumWindows) {
					continue
				}
				if got, want := r.Elem().Field(i).Index(int(w)).Interface(), p.Elem().Field(i).Index(int(w)).Interface(); !reflect.DeepEqual(got, want) {
					t.Errorf("%s.%s[%s] not held: %v, want %v", name, f.Name, w, got, want)
				}
			}
		}
	}
	check("QueueStats", func(r, p reflect.Value, w Window) {
		holdQueueWindow(r.Interface().(*QueueStats), p.Interface().(*QueueStats), w)
	}, reflect.TypeFor[QueueStats]())
	check("OpStats", func(r, p reflect.Value, w Window) {
		holdOpWindow(r.Interface().(*OpStats), p.Interface().(*OpStats), w)
	}, reflect.TypeFor[OpStats]())
	check("ServiceStats", func(r, p reflect.Value, w Window) {
		holdServiceWindow(r.Interface().(*ServiceStats), p.Interface().(*ServiceStats), w)
	}, reflect.TypeFor[ServiceStats]())
}

// setNonZero sets v, a number or a struct of numbers, to a value built from n.
func setNonZero(v reflect.Value, n int) {
	switch v.Kind() {
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(uint64(n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Float64, reflect.Float32:
		v.SetFloat(float64(n) + 0.5)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			setNonZero(v.Field(i), n*10+i+1)
		}
	}
}

// sameColumnsFilled reports the exported fields of want (a row) that hold data while the
// same field of got is empty: a column the live build fills and the merge forgot.
func sameColumnsFilled(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < w.NumField(); i++ {
		f := w.Type().Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		if !w.Field(i).IsZero() && g.Field(i).IsZero() {
			t.Errorf("%s: %s is %v in the engine's row, empty in the merged one", what, f.Name, w.Field(i).Interface())
		}
	}
}
