package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
)

// StatusFor maps a domain error code onto an HTTP status: the one place that does.
func StatusFor(code string) int {
	switch code {
	case hub.EINVALID:
		return http.StatusBadRequest
	case hub.EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case hub.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case hub.EFORBIDDEN:
		return http.StatusForbidden
	case hub.ENOTFOUND:
		return http.StatusNotFound
	case hub.ECONFLICT:
		return http.StatusConflict
	case hub.ERATELIMITED:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Error writes err in the CONTRACT error shape and aborts. Internal errors are logged with the
// request id and shown as a generic message.
func Error(c *gin.Context, err error) {
	var e *hub.Error
	if !errors.As(err, &e) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, errorBody{errorPayload{Code: hub.EINVALID,
				Message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}})
			return
		}
		Logger(c).Error("internal error", "error", err, "route", c.FullPath())
		e = &hub.Error{Code: hub.EINTERNAL, Message: "something went wrong on our side; it has been logged (request " + RequestID(c) + ")"}
	}
	code := e.Code
	if code == hub.EUNPROCESSABLE {
		code = hub.EINVALID // CONTRACT: invalid covers 400 and 422
	}
	c.AbortWithStatusJSON(StatusFor(e.Code), errorBody{errorPayload{Code: code, Message: e.Message, Fields: e.Fields}})
}

// BindJSON decodes the request body strictly: unknown fields, wrong types, trailing data and
// oversized bodies are the caller's mistakes and come back as invalid with a field message.
func BindJSON(c *gin.Context, v any) error {
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		return hub.Errorf(hub.EINVALID, "the body must be JSON (Content-Type: application/json)")
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return hub.Errorf(hub.EINVALID, "the body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return hub.Errorf(hub.EINVALID, "the body is empty: JSON expected")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return hub.Errorf(hub.EINVALID, "the body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &hub.Error{Code: hub.EINVALID, Message: "the request has invalid fields",
			Fields: map[string]string{field: "must be " + jsonKind(typ.Type.Kind().String())}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &hub.Error{Code: hub.EINVALID, Message: "the request has invalid fields", Fields: map[string]string{name: "is not a known field"}}
	}
	var he *hub.Error
	if errors.As(err, &he) {
		return he
	}
	return hub.Errorf(hub.EINVALID, "the body could not be read: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// Logger returns the request's logger (with its request id).
func Logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// RequestID returns the request id.
func RequestID(c *gin.Context) string { return c.GetString(ctxRequestID) }
