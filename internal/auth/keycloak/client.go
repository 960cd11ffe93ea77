package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// callTimeout bounds each call to Keycloak; a guest creation makes about
	// six of them.
	callTimeout = 10 * time.Second
	// maxResponse bounds what jan reads of any Keycloak answer.
	maxResponse = 1 << 20
)

// call is one HTTP request to Keycloak.
type call struct {
	op     string // for errors: "POST users", "token (refresh_token)"
	method string
	url    string
	form   url.Values // form-encoded body (token endpoints), or
	json   any        // JSON body (Admin API)
	bearer string     // Admin API access token
	out    any        // decoded from a 2xx JSON body when non-nil
}

// do sends c and returns the response headers of a 2xx answer. Anything
// else is a *callError: Status 0 when no answer came, else Keycloak's status
// with its error code and description.
func (p *Provider) do(ctx context.Context, c call) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()

	var body io.Reader
	var contentType string
	switch {
	case c.form != nil:
		body, contentType = strings.NewReader(c.form.Encode()), "application/x-www-form-urlencoded"
	case c.json != nil:
		b, err := json.Marshal(c.json)
		if err != nil {
			return nil, &callError{Op: c.op, Err: err}
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return nil, &callError{Op: c.op, Err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, &callError{Op: c.op, Err: redactURLError(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, &callError{Op: c.op, Err: err} // cut off mid-answer: treat as unreachable
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ce := &callError{Op: c.op, Status: resp.StatusCode}
		var oe oauthError
		if json.Unmarshal(data, &oe) == nil {
			ce.Code = short(oe.Error)
			if ce.Code == "" {
				ce.Code = short(oe.ErrorMessage)
			}
			ce.Desc = short(oe.ErrorDescription)
		}
		return nil, ce
	}
	if len(data) > maxResponse {
		return nil, &callError{Op: c.op, Status: resp.StatusCode, Err: fmt.Errorf("%w: answer larger than %d bytes", errGarbage, maxResponse)}
	}
	if c.out != nil {
		if err := json.Unmarshal(data, c.out); err != nil {
			return nil, &callError{Op: c.op, Status: resp.StatusCode, Err: fmt.Errorf("%w: %v", errGarbage, err)}
		}
	}
	return resp.Header, nil
}

// redactURLError drops the query string from a *url.Error's URL: Admin API
// queries carry usernames and emails, which logs need not repeat.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = ""
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
