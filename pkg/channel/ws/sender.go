package ws

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/soap"
	"snodo/pkg/tlsconf"
)

// userAgent identifies snodo to the ente's system.
const userAgent = "snodo-ws/1"

// Sender delivers messages to one ente endpoint; it is safe for concurrent use.
type Sender struct {
	ep   *channel.Endpoint
	set  *Settings
	http *http.Client
	soap *soap.Client
	// authorization is the Authorization header value ("" for none).
	authorization string
	log           *slog.Logger
	now           func() time.Time
}

var _ channel.Sender = (*Sender)(nil)

// NewSender builds the sender of an endpoint (channel.Kind.NewSender).
func NewSender(ep *channel.Endpoint, deps channel.Deps) (channel.Sender, error) {
	set, ok := ep.Settings.(*Settings)
	if !ok || set == nil {
		return nil, fmt.Errorf("ws: %s: impostazioni mancanti: servono almeno settings.style (settings missing)", ep.Name)
	}
	if err := set.Check(ep); err != nil {
		return nil, fmt.Errorf("ws: %s: %w", ep.Name, err)
	}
	var tlsCfg *tls.Config
	if ep.URL.Scheme == "https" {
		var err error
		tlsCfg, err = tlsconf.Client{CertFile: ep.TLS.CertFile, KeyFile: ep.TLS.KeyFile, RootCA: ep.TLS.CAFile,
			ServerName: ep.TLS.ServerName, MinVersion: ep.TLS.MinVersion}.Config()
		if err != nil {
			return nil, fmt.Errorf("ws: %s: %w", ep.Name, err)
		}
	}
	hc := tlsconf.HTTPClient(tlsCfg, set.timeout())
	hc.CheckRedirect = func(*http.Request, []*http.Request) error {
		// A redirect would resend the invoice and the credentials elsewhere.
		return http.ErrUseLastResponse
	}
	hc.Transport = &headerTransport{base: hc.Transport}
	s := &Sender{ep: ep, set: set, http: hc, log: deps.Log().With("endpoint", ep.Name), now: deps.Clock()}
	switch set.auth(ep) {
	case AuthBasic:
		s.authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(ep.Username+":"+ep.Password))
	case AuthBearer:
		s.authorization = "Bearer " + set.Token
	}
	if set.Style == StyleSOAP {
		s.soap = &soap.Client{HTTP: hc, MTOM: set.MTOM, MaxResponseBytes: maxResponseBytes, UserAgent: userAgent, Logger: s.log}
	}
	return s, nil
}

// maxResponseBytes bounds an ente's answer: a result code, a protocol number.
const maxResponseBytes = 1 << 20

// Close releases idle connections.
func (s *Sender) Close() error {
	s.http.CloseIdleConnections()
	return nil
}

// Send delivers d. Errors marked channel.Permanent need an operator (bad credentials, a
// refusal, a message the contract cannot carry); others are retried by the engine.
func (s *Sender) Send(ctx context.Context, d *channel.Delivery) (channel.Result, error) {
	if len(d.Files) == 0 {
		return channel.Result{}, channel.Permanent(fmt.Errorf("ws: %s: messaggio %s senza file da consegnare (no file to deliver)", s.ep.Name, d.MessageID))
	}
	name := d.FileName
	if name == "" {
		name = d.Files[0].Name
	}
	if err := channel.SafeFileName(name); err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("ws: %s: messaggio %s: %w", s.ep.Name, d.MessageID, err))
	}
	hdr := http.Header{}
	hdr.Set(s.set.idempotencyHeader(), string(d.MessageID))
	if s.authorization != "" {
		hdr.Set("Authorization", s.authorization)
	}
	ctx = context.WithValue(ctx, headersKey{}, hdr)
	begin := time.Now()
	var res channel.Result
	var err error
	if s.set.Style == StyleSOAP {
		res, err = s.sendSOAP(ctx, d, name)
	} else {
		res, err = s.sendREST(ctx, d, name)
	}
	if err != nil {
		s.log.Warn("ws: consegna non riuscita (delivery failed)", "message", d.MessageID, "file", name, "attempt", d.Attempt,
			"permanent", channel.IsPermanent(err), "err", err, "elapsed", time.Since(begin))
		return channel.Result{}, fmt.Errorf("ws: %s: %s: %w", s.ep.Name, name, err)
	}
	s.log.Info("ws: consegnato (delivered)", "message", d.MessageID, "file", name, "attempt", d.Attempt, "elapsed", time.Since(begin))
	return res, nil
}

// headersKey carries the per-delivery HTTP headers to headerTransport.
type headersKey struct{}

// headerTransport adds the per-delivery headers (authorization, idempotency key) found
// in the request context: the SOAP client builds its requests itself.
type headerTransport struct{ base http.RoundTripper }

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h, _ := r.Context().Value(headersKey{}).(http.Header)
	if len(h) > 0 {
		r = r.Clone(r.Context())
		for k, v := range h {
			r.Header[k] = v
		}
	}
	return t.base.RoundTrip(r)
}

// transportError classifies a failure to exchange a request: always retried, with the
// cause for the operator.
func transportError(url string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("consegna interrotta (delivery cancelled): %w", err)
	}
	return fmt.Errorf("ente non raggiungibile a %s: %w (ente unreachable; retried)", url, err)
}
