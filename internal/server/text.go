package server

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// Text jan stores or looks up must be text: valid UTF-8 without NUL. Postgres
// refuses NUL in TEXT (and SQLite would keep it), so a NUL that got as far
// as the database would be a 500 on one backend and stored on the other; it
// is a 400 naming the field, on both, before any engine is called.

// maxTitle is the longest conversation title, in characters.
const maxTitle = 256

// checkText refuses s when it is not valid UTF-8 or holds a NUL.
func checkText(param, s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return errInvalid(param, "invalid_text", "%s must be UTF-8 text without NUL characters", param)
	}
	return nil
}

// checkTitle is checkText with the length limit of titles.
func checkTitle(title string) error {
	if err := checkText("title", title); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(title); n > maxTitle {
		return errInvalid("title", "title_too_long", "title may be at most %d characters, got %d", maxTitle, n)
	}
	return nil
}

// textOnly refuses a request whose path values ({id}, {run_id}, …) or query
// values are not text, before anything looks them up.
func textOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkURLText(r); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkURLText(r *http.Request) error {
	for rest := r.Pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		if err := checkText(name, r.PathValue(name)); err != nil {
			return err
		}
		rest = rest[i+j:]
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	for k, vs := range r.URL.Query() {
		if err := checkText(k, k); err != nil {
			return errInvalid("", "invalid_text", "query parameter names must be UTF-8 text without NUL characters")
		}
		for _, v := range vs {
			if err := checkText(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}
