package soap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Client calls SOAP operations over an injected *http.Client.
type Client struct {
	// HTTP does the transport (TLS, timeouts, proxies); nil means http.DefaultClient.
	HTTP *http.Client
	// MTOM sends Binary fields as XOP attachments; otherwise inline base64.
	MTOM bool
	// Version of the envelopes sent (default SOAP 1.1).
	Version Version
	// MaxResponseBytes bounds a response (default DefaultMaxBodyBytes).
	MaxResponseBytes int64
	// UserAgent, if set, is sent as User-Agent.
	UserAgent string
	Logger    *slog.Logger
}

// HTTPError is a response that is neither a SOAP answer nor a SOAP fault.
type HTTPError struct {
	Status  int
	Snippet string // the start of the body, for the operator
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("risposta HTTP %d senza busta SOAP (HTTP %d without a SOAP envelope)", e.Status, e.Status)
	if e.Snippet != "" {
		s += ": " + e.Snippet
	}
	return s
}

// TransportError is a failure to exchange the request and response: connection refused,
// TLS handshake, timeout, connection reset.
type TransportError struct {
	// Sent is true when the whole request was written before the failure: the server
	// may have processed it, so the outcome is unknown.
	Sent bool
	Err  error
}

func (e *TransportError) Error() string {
	if e.Sent {
		return "richiesta inviata, risposta non ricevuta: esito sconosciuto (request sent, no response: outcome unknown): " + e.Err.Error()
	}
	return "richiesta non inviata (request not sent): " + e.Err.Error()
}

func (e *TransportError) Unwrap() error { return e.Err }

// Call sends req (an encoding/xml struct, see [Marshal]) to url with the given SOAPAction
// and decodes the answer into resp. For a one-way operation pass resp nil: any 2xx with
// an empty body (or an empty envelope) is success. Errors: *Fault for a SOAP fault,
// *HTTPError for a non-SOAP answer, *TransportError when the exchange failed, and
// ErrMalformed / ErrTooLarge for a broken or oversize response.
func (c *Client) Call(ctx context.Context, url, action string, req, resp any) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	max := c.MaxResponseBytes
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	ct, body, err := Marshal(c.Version, req, c.MTOM)
	if err != nil {
		return err
	}
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("soap: %s: %w", url, err)
	}
	if c.Version == V12 {
		ct += `; action="` + action + `"`
	} else {
		hreq.Header.Set("SOAPAction", `"`+action+`"`)
	}
	hreq.Header.Set("Content-Type", ct)
	hreq.Header.Set("Accept", "text/xml, multipart/related, application/soap+xml")
	if c.UserAgent != "" {
		hreq.Header.Set("User-Agent", c.UserAgent)
	}
	begin := time.Now()
	hresp, err := hc.Do(hreq)
	if err != nil {
		return &TransportError{Sent: sent.Load(), Err: err}
	}
	defer hresp.Body.Close()
	data, err := readBody(io.LimitReader(hresp.Body, max+1), hresp.ContentLength, max)
	if err != nil {
		return &TransportError{Sent: true, Err: fmt.Errorf("lettura risposta (reading the response): %w", err)}
	}
	if int64(len(data)) > max {
		return &inputError{name: "risposta da " + url, class: ErrTooLarge, msg: fmt.Sprintf(
			"risposta oltre il limite di %d byte (response exceeds the %d-byte limit)", max, max)}
	}
	if c.Logger != nil {
		c.Logger.Debug("soap: call", "url", url, "action", action, "status", hresp.StatusCode, "bytes_out", len(body), "bytes_in", len(data), "elapsed", time.Since(begin))
	}
	return decodeResponse("risposta da "+url, hresp, data, resp)
}

func decodeResponse(name string, hresp *http.Response, data []byte, resp any) error {
	status := hresp.StatusCode
	empty := len(bytes.TrimSpace(data)) == 0
	if status >= 200 && status < 300 && empty {
		if resp == nil {
			return nil
		}
		return malformed(name, "risposta vuota (HTTP %d) dove era attesa una risposta SOAP (empty response where a SOAP answer was expected)", status)
	}
	ct := hresp.Header.Get("Content-Type")
	msg, err := Parse(name, ct, data)
	if err != nil {
		if status < 200 || status >= 300 || looksLikeHTML(ct, data) {
			return &HTTPError{Status: status, Snippet: snippet(data)}
		}
		return err
	}
	if msg.Fault != nil {
		msg.Fault.HTTPStatus = status
		return msg.Fault
	}
	if status < 200 || status >= 300 {
		return &HTTPError{Status: status, Snippet: snippet(data)}
	}
	if resp == nil {
		return nil // one-way operation answered with an envelope: accepted
	}
	return msg.Decode(resp)
}

func looksLikeHTML(ct string, data []byte) bool {
	return strings.Contains(ct, "html") || bytes.HasPrefix(bytes.TrimSpace(data), []byte("<html")) ||
		bytes.HasPrefix(bytes.TrimSpace(data), []byte("<!DOCTYPE html"))
}

func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// Retryable says whether err, returned by [Client.Call], is worth retrying unchanged:
// transport failures, soap:Server faults and HTTP 5xx/429/408 are; soap:Client faults,
// other HTTP statuses and malformed answers are not.
func Retryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return !errors.Is(err, context.Canceled)
	}
	var f *Fault
	if errors.As(err, &f) {
		return f.Code != CodeClient && f.Code != CodeVersionMismatch && f.Code != CodeMustUnderstand
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Status == http.StatusRequestTimeout
	}
	return false
}
