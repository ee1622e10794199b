// Package mailbox is the client side of a PEC mailbox: SMTP submission of the messages
// the hub sends (Submitter) and an IMAP consumer that hands every message of a folder to
// a callback and acknowledges it on the server only after the callback says it is
// committed (Consumer).
//
// Both speak to any PEC provider (and to the simulator in pkg/pec/sim) over implicit
// TLS, STARTTLS or, on loopback only, plain TCP; both take a context through every
// blocking call and never log passwords.
package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"snodo/pkg/pec"
)

// Security is how a connection is protected.
type Security string

// Connection security modes.
const (
	ImplicitTLS Security = "tls"      // TLS from the first byte (SMTPS 465, IMAPS 993)
	StartTLS    Security = "starttls" // upgrade after the greeting (587, 143)
	Plain       Security = "plain"    // no TLS: refused unless the address is loopback
)

// Endpoint is what both sides need to reach and log in to a server.
type Endpoint struct {
	Addr     string // host:port
	Security Security
	TLS      *tls.Config // nil = system roots, ServerName from Addr
	Username string
	Password string
	// DialTimeout bounds connecting and the TLS handshake; default 30 s.
	DialTimeout time.Duration
}

func (e Endpoint) check(kind string) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("mailbox: %s: indirizzo %q non nella forma host:porta (address not host:port)", kind, e.Addr)
	}
	switch e.Security {
	case ImplicitTLS, StartTLS:
	case Plain:
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("mailbox: %s %s: connessione senza TLS ammessa solo verso 127.0.0.1 (plain connections only to loopback)", kind, e.Addr)
		}
	default:
		return fmt.Errorf("mailbox: %s %s: sicurezza %q non prevista: tls, starttls o plain (unknown security)", kind, e.Addr, e.Security)
	}
	if e.Username == "" {
		return fmt.Errorf("mailbox: %s %s: utente mancante (username missing)", kind, e.Addr)
	}
	return nil
}

func (e Endpoint) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLS != nil {
		c = e.TLS.Clone()
	}
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(e.Addr)
	}
	return c
}

// dial connects with ctx, doing the TLS handshake for ImplicitTLS.
func (e Endpoint) dial(ctx context.Context) (net.Conn, error) {
	timeout := e.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return nil, err
	}
	if e.Security == ImplicitTLS {
		tc := tls.Client(conn, e.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		return tc, nil
	}
	return conn, nil
}

// SMTPConfig configures submission.
type SMTPConfig struct {
	Endpoint
	// Auth is "PLAIN" (default) or "LOGIN".
	Auth string
	// Timeout bounds each SMTP command and the wait after the final dot; default 2 min.
	Timeout time.Duration
	// MaxSize refuses larger messages before connecting; default 30 MB, the PEC limit
	// (counted as size × recipients, as providers do).
	MaxSize int64
	// LocalName is the EHLO name; default "localhost".
	LocalName string
}

// Submitter sends messages through a PEC provider's SMTP submission service.
type Submitter struct {
	cfg SMTPConfig
	log *slog.Logger
}

// NewSubmitter checks cfg and returns a Submitter.
func NewSubmitter(cfg SMTPConfig, log *slog.Logger) (*Submitter, error) {
	if err := cfg.check("SMTP"); err != nil {
		return nil, err
	}
	switch strings.ToUpper(cfg.Auth) {
	case "", sasl.Plain, sasl.Login:
	default:
		return nil, fmt.Errorf("mailbox: SMTP %s: autenticazione %q non prevista: PLAIN o LOGIN (unknown auth mechanism)", cfg.Addr, cfg.Auth)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 30_000_000
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Submitter{cfg: cfg, log: log.With("component", "pec-smtp", "server", cfg.Addr, "user", cfg.Username)}, nil
}

// SubmitError is a refused submission. Permanent means the same message will be refused
// again (5xx, a message PEC does not admit, bad credentials); otherwise a retry may
// succeed (4xx, network).
type SubmitError struct {
	MessageID string
	Permanent bool
	Err       error
}

func (e *SubmitError) Error() string {
	kind := "temporaneo (temporary)"
	if e.Permanent {
		kind = "definitivo (permanent)"
	}
	return fmt.Sprintf("mailbox: invio %s: errore %s: %v", e.MessageID, kind, e.Err)
}
func (e *SubmitError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a submission error that a retry will not fix.
func IsPermanent(err error) bool {
	var se *SubmitError
	return errors.As(err, &se) && se.Permanent
}

// Submit sends raw (a complete message, e.g. from compose.Build) and returns its
// Message-ID, the key the provider's receipts will carry in X-Riferimento-Message-ID.
// The SMTP envelope follows the PEC rules: the sender is the From address, the
// recipients are exactly To and Cc; a message with Bcc, without Message-ID or To, or
// beyond MaxSize is refused before connecting.
func (s *Submitter) Submit(ctx context.Context, raw []byte) (string, error) {
	m, _, err := pec.ReadMessage("submit", raw, pec.Options{MaxSize: 1 << 40})
	if err != nil {
		return "", &SubmitError{Permanent: true, Err: err}
	}
	id := m.MessageID
	perm := func(format string, a ...any) (string, error) {
		return id, &SubmitError{MessageID: id, Permanent: true, Err: fmt.Errorf(format, a...)}
	}
	switch {
	case id == "":
		return perm("Message-ID mancante: serve per collegare le ricevute (Message-ID missing: needed to match receipts)")
	case m.From == "":
		return perm("From mancante (From missing)")
	case len(m.To) == 0:
		return perm("nessun destinatario To (no To recipient)")
	case len(m.Bcc) > 0:
		return perm("Bcc non ammesso in una PEC: mettere ogni destinatario in To o Cc (Bcc not allowed in a PEC: put every recipient in To or Cc)")
	}
	rcpts := append(append([]string{}, m.To...), m.Cc...)
	if total := int64(len(raw)) * int64(len(rcpts)); total > s.cfg.MaxSize {
		return perm("messaggio di %d byte × %d destinatari oltre il limite PEC di %d byte (message size × recipients exceeds the PEC limit)", len(raw), len(rcpts), s.cfg.MaxSize)
	}
	if !strings.EqualFold(m.From, s.cfg.Username) && strings.Contains(s.cfg.Username, "@") {
		return perm("From %s diverso dalla casella %s: il gestore rifiuterebbe il messaggio (From differs from the mailbox: the provider would refuse it)", m.From, s.cfg.Username)
	}
	start := time.Now()
	if err := s.send(ctx, m.From, rcpts, raw); err != nil {
		var se *smtp.SMTPError
		permanent := errors.As(err, &se) && se.Code >= 500
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			permanent = false
		}
		s.log.Warn("invio PEC fallito", "message_id", id, "permanent", permanent, "err", err)
		return id, &SubmitError{MessageID: id, Permanent: permanent, Err: err}
	}
	s.log.Info("PEC inviata", "message_id", id, "recipients", len(rcpts), "bytes", len(raw), "elapsed", time.Since(start))
	return id, nil
}

func (s *Submitter) send(ctx context.Context, from string, rcpts []string, raw []byte) error {
	conn, err := s.cfg.dial(ctx)
	if err != nil {
		return fmt.Errorf("connessione a %s: %w (connect)", s.cfg.Addr, err)
	}
	// Commands of go-smtp take no context: closing the connection unblocks them.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	if s.cfg.Security == StartTLS {
		c, err = smtp.NewClientStartTLS(conn, s.cfg.tlsConfig())
		if err != nil {
			conn.Close()
			return fmt.Errorf("STARTTLS con %s: %w", s.cfg.Addr, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = s.cfg.Timeout
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	var auth sasl.Client
	if strings.EqualFold(s.cfg.Auth, sasl.Login) {
		auth = sasl.NewLoginClient(s.cfg.Username, s.cfg.Password)
	} else {
		auth = sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)
	}
	if err := c.Auth(auth); err != nil {
		return fmt.Errorf("autenticazione come %s: %w (authentication)", s.cfg.Username, err)
	}
	if err := c.SendMail(from, rcpts, bytes.NewReader(raw)); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}
