package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/janhq/jan/internal/store"
)

// decodeJSON decodes the buffered body into v. Malformed JSON, a non-object
// body or a field of the wrong type is a 400 naming the field.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
				Message: "Content-Type must be application/json"}
		}
	}
	b := bytes.TrimSpace(body(r))
	if len(b) == 0 {
		return errInvalid("", "invalid_json", "request body is empty; send a JSON object")
	}
	if b[0] != '{' {
		return errInvalid("", "invalid_json", "request body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return jsonError(err, "")
	}
	return nil
}

// jsonError turns an encoding/json error into a 400; prefix is the path of
// the value being decoded ("messages[2]").
func jsonError(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		param := te.Field
		if prefix != "" {
			param = prefix + "." + te.Field
			if te.Field == "" {
				param = prefix
			}
		}
		return errInvalid(param, "invalid_type", "%s: expected %s, got %s", orBody(param), jsonType(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return errInvalid("", "invalid_json", "malformed JSON at byte %d: %s", se.Offset, se.Error())
	default:
		return errInvalid(prefix, "invalid_json", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func orBody(param string) string {
	if param == "" {
		return "body"
	}
	return param
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "a number"
	}
	return kind
}

// page reads ?limit, ?after and ?order; defaultOrder applies when absent.
// A page also ends early when its items add up to the list byte budget, so
// no list response grows past a few MB whatever the items hold.
func (s *Server) page(r *http.Request, defaultOrder string) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: 20, After: q.Get("after"), Order: defaultOrder, MaxBytes: s.listBytes}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, errInvalid("limit", "invalid_limit", "limit must be a whole number from 1 to 100, got %q", v)
		}
		p.Limit = n
	}
	if q.Has("order") {
		switch o := q.Get("order"); o {
		case "asc", "desc":
			p.Order = o
		default:
			return p, errInvalid("order", "invalid_order", "order must be asc or desc, got %q", o)
		}
	}
	if q.Has("after") && p.After == "" {
		return p, errInvalid("after", "invalid_cursor", "after must not be empty")
	}
	return p, nil
}

// listBody is the one paginated list shape.
type listBody[T any] struct {
	Object    string  `json:"object"`
	Data      []T     `json:"data"`
	FirstID   *string `json:"first_id"`
	LastID    *string `json:"last_id"`
	HasMore   bool    `json:"has_more"`
	NextAfter *string `json:"next_after"`
}

// newList builds a page of data; ids are those of the first and last items.
func newList[T any](data []T, hasMore bool, first, last string) listBody[T] {
	l := listBody[T]{Object: "list", Data: data, HasMore: hasMore}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(data) > 0 {
		l.FirstID, l.LastID = &first, &last
		if hasMore {
			l.NextAfter = &last
		}
	}
	return l
}

// queryBool reads ?name=true|false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errInvalid(name, "invalid_value", "%s must be true or false, got %q", name, v)
	}
	return b, nil
}

// firstLast returns the ids of the first and last items ("" when empty).
func firstLast[T any](list []T, id func(T) string) (string, string) {
	if len(list) == 0 {
		return "", ""
	}
	return id(list[0]), id(list[len(list)-1])
}
