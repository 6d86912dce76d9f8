package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/labstack/echo/v4"
)

// CodeInvalidFilter answers a `filter` that does not compile or does not yield a boolean.
const CodeInvalidFilter = "ERR_EDGEWAY_INVALID_FILTER"

// MaxFilterLen bounds a filter expression.
const MaxFilterLen = 1024

// Filter is a compiled `?filter=` CEL expression over `obj`, the item as the API shows it.
type Filter struct {
	prg  cel.Program
	expr string
}

var filterEnv, filterEnvErr = cel.NewEnv(cel.Variable("obj", cel.MapType(cel.StringType, cel.DynType)))

// ParseFilter compiles the request's `filter` parameter; it returns nil when there is none.
func ParseFilter(c echo.Context) (*Filter, error) {
	return CompileFilter(c.QueryParam("filter"))
}

// CompileFilter compiles a CEL expression such as `obj.region == "eu" && obj.os in ["linux"]`.
func CompileFilter(expr string) (*Filter, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	if filterEnvErr != nil {
		return nil, httperr.Internal(filterEnvErr)
	}
	bad := func(msg string) error {
		e := httperr.New(http.StatusBadRequest, CodeInvalidFilter, msg)
		e.Details = map[string]any{"param": "filter"}
		return e
	}
	if len(expr) > MaxFilterLen {
		return nil, bad(fmt.Sprintf("filter is %d bytes; at most %d are allowed.", len(expr), MaxFilterLen))
	}
	ast, iss := filterEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, bad("filter does not compile: " + strings.ReplaceAll(iss.Err().Error(), "\n", " ") +
			`. Filters are CEL over obj, e.g. obj.region == "eu" && obj.agent_version.startsWith("1.").`)
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, bad(fmt.Sprintf("filter must be a condition (true or false), not a %s.", t))
	}
	prg, err := filterEnv.Program(ast, cel.CostLimit(100_000))
	if err != nil {
		return nil, bad("filter cannot run: " + err.Error())
	}
	return &Filter{prg: prg, expr: expr}, nil
}

// Match reports whether item (any value that marshals to a JSON object, as the API shows it)
// passes the filter. A field the item lacks, or a type mismatch, is an error naming it.
func (f *Filter) Match(item any) (bool, error) {
	if f == nil {
		return true, nil
	}
	b, err := json.Marshal(item)
	if err != nil {
		return false, httperr.Internal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return false, httperr.Internal(err)
	}
	out, _, err := f.prg.Eval(map[string]any{"obj": obj})
	if err != nil {
		e := httperr.New(http.StatusBadRequest, CodeInvalidFilter, fmt.Sprintf("filter %q failed on an item: %v. Check the field names in /openapi.json.", f.expr, err))
		e.Details = map[string]any{"param": "filter"}
		return false, e
	}
	v, ok := out.(types.Bool)
	if !ok {
		return false, httperr.New(http.StatusBadRequest, CodeInvalidFilter, "filter must be a condition (true or false).")
	}
	return bool(v), nil
}

// FilterPage fills one page of items that pass f: fetch(before, n) returns up to n items older
// than before (newest first). It scans at most maxScan items; more reports whether the next page
// may hold matches, and last is the id to continue from.
func FilterPage[T any](f *Filter, limit, maxScan int, before string, id func(T) string, fetch func(before string, n int) ([]T, error)) (page []T, last string, more bool, err error) {
	scanned := 0
	last = before
	for len(page) < limit && scanned < maxScan {
		batch, err := fetch(last, 200)
		if err != nil {
			return nil, "", false, err
		}
		if len(batch) == 0 {
			return page, last, false, nil
		}
		for i, it := range batch {
			scanned++
			ok, err := f.Match(it)
			if err != nil {
				return nil, "", false, err
			}
			last = id(it)
			if ok {
				page = append(page, it)
				if len(page) == limit {
					return page, last, i < len(batch)-1 || len(batch) == 200, nil
				}
			}
		}
		if len(batch) < 200 {
			return page, last, false, nil
		}
	}
	return page, last, scanned >= maxScan, nil
}
