package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
)

type item struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	OS     string `json:"os"`
	N      int    `json:"n"`
}

func TestCompileFilter(t *testing.T) {
	for _, tc := range []struct {
		expr, wantErr string
	}{
		{``, ""},
		{`obj.region == "eu"`, ""},
		{`obj.region in ["eu", "us"] && obj.n > 3`, ""},
		{`obj.os.startsWith("lin") || !(obj.n < 1)`, ""},
		{`obj.region ==`, "does not compile"},
		{`"just a string"`, "must be a condition"},
		{`nope == 1`, "does not compile"},
		{strings.Repeat("x", MaxFilterLen+1), "at most"},
	} {
		f, err := CompileFilter(tc.expr)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("CompileFilter(%q) = %v", tc.expr, err)
			}
			continue
		}
		e, ok := httperr.As(err)
		if !ok || e.Code != CodeInvalidFilter || !strings.Contains(e.Msg, tc.wantErr) || f != nil {
			t.Errorf("CompileFilter(%q) = %v, want %s containing %q", tc.expr, err, CodeInvalidFilter, tc.wantErr)
		}
	}
}

func TestFilterPageScansAcrossBatches(t *testing.T) {
	// 1,000 items, newest first (ids descending); every third one is in eu.
	var all []item
	for i := 999; i >= 0; i-- {
		r := "us"
		if i%3 == 0 {
			r = "eu"
		}
		all = append(all, item{ID: fmt.Sprintf("it_%04d", i), Region: r, N: i})
	}
	fetch := func(before string, n int) ([]item, error) {
		var out []item
		for _, it := range all {
			if (before == "" || it.ID < before) && len(out) < n {
				out = append(out, it)
			}
		}
		return out, nil
	}
	f, err := CompileFilter(`obj.region == "eu"`)
	if err != nil {
		t.Fatal(err)
	}
	id := func(it item) string { return it.ID }
	var got []item
	before, more := "", true
	for pages := 0; more; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		var page []item
		page, before, more, err = FilterPage(f, 100, 10_000, before, id, fetch)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
	}
	if len(got) != 334 {
		t.Fatalf("matched %d items, want 334", len(got))
	}
	for i, it := range got {
		if it.Region != "eu" || (i > 0 && it.ID >= got[i-1].ID) {
			t.Fatalf("item %d = %+v: not eu or not newest first", i, it)
		}
	}
	// A filter that fails at run time (a field items lack) is a client error naming the filter.
	bad, _ := CompileFilter(`obj.missing == 1`)
	if _, _, _, err := FilterPage(bad, 10, 100, "", id, fetch); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("run-time failure: %v", err)
	}
}

func FuzzCompileFilter(f *testing.F) {
	for _, s := range []string{`obj.region == "eu"`, `obj.n > 1 && obj.os.matches("^l")`, `size(obj.id) < 3`, `)(`, `obj[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := CompileFilter(expr)
		if err != nil {
			if e, ok := httperr.As(err); !ok || e.Status != 400 {
				t.Fatalf("CompileFilter(%q): %v is not a client error", expr, err)
			}
			return
		}
		if flt != nil {
			_, _ = flt.Match(item{ID: "it_1", Region: "eu", OS: "linux", N: 2})
		}
	})
}
