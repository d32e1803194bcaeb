package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

const (
	defaultTimeout = 10 * time.Second // per attempt, webhook and Alertmanager
	errBodyMax     = 256              // bytes of a rejecting answer's body quoted in the error
	drainMax       = 1 << 20          // bytes of an answer read before closing it, so the connection can be reused
)

// newHTTPClient returns a client of its own (so one receiver's connections never block
// another's) that does not follow redirects: a 3xx answer is an error like any other non-2xx.
func newHTTPClient() *http.Client {
	var rt http.RoundTripper = http.DefaultTransport
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		rt = t.Clone()
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// postJSON makes one POST of body to url within timeout and classifies the answer: nil for 2xx;
// a retryable error for 408, 429, 5xx and transport failures (including the timeout); an error
// wrapped by Permanent for any other status. secret, when not empty, is cut out of any text the
// error quotes from the answer.
func postJSON(ctx context.Context, client *http.Client, endpoint *url.URL, timeout time.Duration, body []byte, header http.Header, secret string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("build request: %w", err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// Not the *url.Error itself: it quotes the whole URL, and a webhook URL may carry a
		// token in its path or query. Scheme and host say where; the cause says what.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post %s://%s: %w", endpoint.Scheme, endpoint.Host, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainMax))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	// Read enough that a secret starting inside the quoted part is cut out whole.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, int64(errBodyMax+len(secret))))
	err = fmt.Errorf("post %s://%s: %s%s", endpoint.Scheme, endpoint.Host, resp.Status, quoteBody(head, secret))
	if retryableStatus(resp.StatusCode) {
		return err
	}
	return Permanent(err)
}

// retryableStatus says whether an attempt answered with code may succeed when repeated.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// quoteBody renders the start of a rejecting answer's body for an error message: one line,
// printable, at most errBodyMax bytes, without secret; "" when there is nothing to show.
func quoteBody(b []byte, secret string) string {
	s := string(b)
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	if len(s) > errBodyMax {
		s = s[:errBodyMax]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}
