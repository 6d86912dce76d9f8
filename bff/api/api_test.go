package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

type sample struct {
	Description string   `json:"description"`
	Count       int      `json:"count"`
	Tags        []string `json:"tags"`
}

func bind(body, contentType string) (sample, error) {
	e := echo.New()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set(echo.HeaderContentType, contentType)
	}
	var s sample
	err := Bind(e.NewContext(req, httptest.NewRecorder()), &s)
	return s, err
}

func TestBind(t *testing.T) {
	tests := []struct {
		name, body, ct string
		want           sample
		code           string
	}{
		{"empty body", "", "", sample{}, ""},
		{"whitespace body", "  \n", "application/json", sample{}, ""},
		{"object", `{"description":"x","count":2}`, "application/json; charset=utf-8", sample{Description: "x", Count: 2}, ""},
		{"no content type", `{"count":1}`, "", sample{Count: 1}, ""},
		{"vendor json", `{"count":1}`, "application/vnd.edgeway+json", sample{Count: 1}, ""},
		{"form", `count=1`, "application/x-www-form-urlencoded", sample{}, httperr.CodeUnsupportedMedia},
		{"array for object", `[1]`, "application/json", sample{}, httperr.CodeInvalidJSON},
		{"unknown field", `{"nope":1}`, "application/json", sample{}, httperr.CodeInvalidJSON},
		{"truncated", `{"count":`, "application/json", sample{}, httperr.CodeInvalidJSON},
		{"two values", `{}{}`, "application/json", sample{}, httperr.CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bind(tt.body, tt.ct)
			if tt.code == "" {
				if err != nil || got.Description != tt.want.Description || got.Count != tt.want.Count {
					t.Fatalf("Bind = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if e, ok := httperr.As(err); !ok || e.Code != tt.code {
				t.Fatalf("Bind err = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	good := ids.New(ids.APIKey)
	for _, tt := range []struct {
		query     string
		wantLimit int
		wantErr   bool
	}{
		{"", DefaultLimit, false},
		{"limit=1", 1, false},
		{"limit=100&before_id=" + good, 100, false},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=abc", 0, true},
		{"before_id=ak_short", 0, true},
		{"before_id=" + strings.Replace(good, "ak_", "ts_", 1), 0, true},
	} {
		e := echo.New()
		c := e.NewContext(httptest.NewRequest(http.MethodGet, "/?"+tt.query, nil), httptest.NewRecorder())
		p, err := ParsePage(c, ids.APIKey)
		if (err != nil) != tt.wantErr || (!tt.wantErr && p.Limit != tt.wantLimit) {
			t.Errorf("ParsePage(%q) = %+v, %v", tt.query, p, err)
		}
	}
}

// FuzzBind: whatever the body, Bind returns nil or a client error with a stable code, never a panic
// or a 500.
func FuzzBind(f *testing.F) {
	for _, s := range []string{"", "{}", `{"description":"x"}`, `{"count":1e400}`, `{"tags":[1,2]}`, "\xff", `{"a":`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, err := bind(body, "application/json")
		if err == nil {
			return
		}
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 || e.Code == "" || e.Msg == "" {
			t.Fatalf("Bind(%q) = %v: want a client error with a code and message", body, err)
		}
	})
}
