package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// ErrorBody is the JSON error body, as in the reference.
type ErrorBody struct {
	ErrorCode  string         `json:"error_code"`
	StatusCode int            `json:"status_code"`
	Msg        string         `json:"msg"`
	Details    map[string]any `json:"details"`
}

var titles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Sign-in required",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Method not allowed",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Request too large",
	http.StatusUnsupportedMediaType:  "Unsupported content type",
	http.StatusUnprocessableEntity:   "Check your input",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusServiceUnavailable:    "Unavailable",
}

// normalize turns any error into an *httperr.Error.
func normalize(c echo.Context, err error) *httperr.Error {
	if e, ok := httperr.As(err); ok {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := fmt.Sprint(he.Message)
		switch he.Code {
		case http.StatusNotFound:
			return httperr.Wrap(err, he.Code, httperr.CodeNotFound, fmt.Sprintf("There is nothing at %s. Check the address.", c.Request().URL.Path))
		case http.StatusMethodNotAllowed:
			return httperr.Wrap(err, he.Code, httperr.CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s.", c.Request().Method, c.Request().URL.Path))
		case http.StatusRequestEntityTooLarge:
			return httperr.Wrap(err, he.Code, httperr.CodeBodyTooLarge, "The request body is too large.")
		case http.StatusUnsupportedMediaType:
			return httperr.Wrap(err, he.Code, httperr.CodeUnsupportedMedia, "The request's Content-Type is not supported.")
		case http.StatusUnauthorized:
			return httperr.Wrap(err, he.Code, httperr.CodeUnauthorized, "Authentication is required.")
		case http.StatusTooManyRequests:
			return httperr.Wrap(err, he.Code, httperr.CodeRateLimited, "Too many requests. Slow down and try again shortly.")
		}
		if he.Code >= 400 && he.Code < 500 {
			return httperr.Wrap(err, he.Code, httperr.CodeValidation, strings.ToUpper(msg[:1])+msg[1:]+".")
		}
		return httperr.Internal(err)
	}
	return httperr.Internal(err)
}

// errorHandler renders every error once: a JSON body for API clients, an htmx fragment for htmx
// requests, a full page otherwise; and logs it (server errors at error level with the cause).
func errorHandler(log *slog.Logger, alwaysJSON bool) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		e := normalize(c, err)
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		level := slog.LevelInfo
		if e.Status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.Request().Context(), level, "request failed", "request_id", reqID, "status", e.Status,
			"code", e.Code, "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		if c.Response().Committed {
			return
		}
		if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
			if _, ok := e.Details["retry_after_seconds"]; !ok && c.Response().Header().Get("Retry-After") == "" {
				c.Response().Header().Set("Retry-After", "60")
			}
		}
		var rerr error
		switch {
		case alwaysJSON || wantsJSON(c):
			details := map[string]any{"operation_id": "op_" + reqID}
			for k, v := range e.Details {
				details[k] = v
			}
			if len(e.Fields) > 0 {
				details["fields"] = e.Fields
			}
			if c.Request().Method == http.MethodHead {
				rerr = c.NoContent(e.Status)
			} else {
				rerr = c.JSON(e.Status, ErrorBody{ErrorCode: e.Code, StatusCode: e.Status, Msg: e.Msg, Details: details})
			}
		case web.IsHTMX(c):
			rerr = web.Render(c, e.Status, frontend.ErrorFragment(view(e, reqID)))
		default:
			page := web.NewPage(c, title(e.Status), "")
			rerr = web.Render(c, e.Status, frontend.ErrorPage(page, view(e, reqID)))
		}
		if rerr != nil {
			log.Error("render error response", "request_id", reqID, "err", rerr)
		}
	}
}

func view(e *httperr.Error, reqID string) frontend.ErrorView {
	return frontend.ErrorView{Status: e.Status, Code: e.Code, Title: title(e.Status), Msg: e.Msg, RequestID: reqID}
}

func title(status int) string {
	if t, ok := titles[status]; ok {
		return t
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return http.StatusText(status)
}

// wantsJSON reports whether a dashboard client asked for JSON rather than HTML.
func wantsJSON(c echo.Context) bool {
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(accept, echo.MIMEApplicationJSON) && !strings.Contains(accept, echo.MIMETextHTML)
}
