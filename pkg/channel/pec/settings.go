// Package pec is the channel kind "pec": certified e-mail through a PEC mailbox of the
// hub, SMTP to send and IMAP to read (pkg/pec/mailbox), with the PEC envelopes and
// receipts read and checked by pkg/pec.
//
// Sender (url mailto:<recipient>): one PEC per delivery, the files as attachments, the
// phase's subject. A PEC is delivered only when the recipient's provider says so, so
// Send returns "handed over" with channel.Result.Await keyed by AwaitKey(Message-ID,
// recipient); the Receiver that reads the hub's mailbox resolves it when the
// avvenuta-consegna (ok) or the errore-consegna / non-accettazione (failed) arrives.
// The Sender bounds the attempts itself (settings max_attempts), because a failure
// receipt makes the job due again without counting against the engine's policy.
//
// Receiver (url imaps://host/Folder): every message is parsed as PEC and its signature
// verified against the configured trust store. A busta di trasporto is handed to the
// sink with the original's attachments as files and the signed envelope kept beside
// them; a final receipt resolves the awaiting delivery when the sink implements
// AwaitResolver (else it is handed over as an item of its own); anything that is not a
// valid PEC (ordinary mail, an anomaly envelope, a broken or untrusted signature, a
// daticert that contradicts its headers, a message beyond max_size, a MIME bomb) is
// quarantined in the mailbox, moved aside with a note that says why. The mailbox is
// acknowledged (flag or move) only after the sink committed.
package pec

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/pec/mailbox"
)

// Settings of a pec endpoint (the `settings:` of a route phase).
type Settings struct {
	// Sender
	SMTP string `yaml:"smtp"` // smtps://host:465, smtp://host:587 (STARTTLS) or smtp+plain://127.0.0.1:port
	// IMAP is the same mailbox's IMAP folder (imaps://host/INBOX), where the receipts of
	// what the sender sends arrive: NewReceiptReceiver reads it.
	IMAP string `yaml:"imap"`
	From string `yaml:"from"` // the hub's PEC address (default: username)
	Auth string `yaml:"auth"` // PLAIN (default) or LOGIN
	// Cc lists further recipients; their receipts are not awaited.
	Cc []string `yaml:"cc"`
	// AllowRecipientOverride lets a delivery name its recipient in the header
	// PEC-Destinatario (the SdI address an invoice came from, for its EC).
	AllowRecipientOverride bool          `yaml:"allow_recipient_override"`
	ReceiptTimeout         time.Duration `yaml:"receipt_timeout"`  // wait for the delivery receipt (default 24h)
	MaxAttempts            int           `yaml:"max_attempts"`     // PECs sent for one delivery before giving up (default 5)
	TipoRicevuta           string        `yaml:"tipo_ricevuta"`    // completa (default), breve, sintetica
	Text                   string        `yaml:"text"`             // body text (default: a short Italian note listing the files)
	Roles                  []string      `yaml:"roles"`            // file roles to attach (default: all)
	MaxMessageSize         int64         `yaml:"max_message_size"` // refuse bigger messages before sending (default 30 MB)

	// Receiver
	Ack        string        `yaml:"ack"`        // "flag" (default: \Seen + $Processed) or "move"
	MoveTo     string        `yaml:"move_to"`    // folder for ack: move (default "Processed")
	Quarantine string        `yaml:"quarantine"` // folder for refused messages (default "Quarantena")
	Poll       time.Duration `yaml:"poll"`       // polling period, beside IDLE (default 30s)
	Idle       *bool         `yaml:"idle"`       // use IMAP IDLE when offered (default true)
	Trust      string        `yaml:"trust"`      // PEC providers' certificates or CAs: a file or folder (PEM/DER)
	// RequireTrust quarantines messages whose signature could not be checked against a
	// trust store (default: accepted with the verdict "unchecked" in PEC-Firma).
	RequireTrust bool  `yaml:"require_trust"`
	MaxSize      int64 `yaml:"max_size"` // larger messages are quarantined unread (default 32 MiB)
	// KeepEnvelope keeps the signed envelope (the legal proof) as a file beside the
	// attachments (default true).
	KeepEnvelope *bool `yaml:"keep_envelope"`

	// Both
	Timeout     time.Duration `yaml:"timeout"`      // SMTP command timeout (default 2m)
	DialTimeout time.Duration `yaml:"dial_timeout"` // connect + TLS handshake (default 30s)
}

func (s *Settings) keepEnvelope() bool { return s.KeepEnvelope == nil || *s.KeepEnvelope }
func (s *Settings) idle() bool         { return s.Idle == nil || *s.Idle }

func (s *Settings) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return 5
}

func (s *Settings) receiptTimeout() time.Duration {
	if s.ReceiptTimeout > 0 {
		return s.ReceiptTimeout
	}
	return 24 * time.Hour
}

// server parses an smtp/imap server URL into address and security.
func server(raw, secure, starttls, plain string, defPort map[string]string) (string, mailbox.Security, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%q non è un URL di server: usare %s://host:porta (not a server URL)", raw, secure)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("%s: le credenziali non vanno nell'URL: usare username e password con ${VAR} (credentials do not belong in the URL)", u.Redacted())
	}
	var sec mailbox.Security
	switch u.Scheme {
	case secure:
		sec = mailbox.ImplicitTLS
	case starttls:
		sec = mailbox.StartTLS
	case plain:
		sec = mailbox.Plain
	default:
		return "", "", fmt.Errorf("%s: schema %q non previsto: %s://, %s:// (STARTTLS) o %s:// (solo 127.0.0.1) (unknown scheme)", u.Redacted(), u.Scheme, secure, starttls, plain)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defPort[u.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	if sec == mailbox.Plain {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", "", fmt.Errorf("%s: senza TLS solo verso 127.0.0.1 (plain only to loopback)", u.Redacted())
		}
	}
	return addr, sec, nil
}

// smtpServer returns the submission address and security.
func (s *Settings) smtpServer() (string, mailbox.Security, error) {
	if s.SMTP == "" {
		return "", "", errors.New("manca settings.smtp, il server di invio della casella, es. smtps://smtps.pec.example.it:465 (SMTP server missing)")
	}
	return server(s.SMTP, "smtps", "smtp", "smtp+plain", map[string]string{"smtps": "465", "smtp": "587", "smtp+plain": "25"})
}

// imapServer returns the IMAP address, security and folder of a receiver URL.
func imapServer(u *url.URL) (string, mailbox.Security, string, error) {
	addr, sec, err := server(u.String(), "imaps", "imap", "imap+plain", map[string]string{"imaps": "993", "imap": "143", "imap+plain": "143"})
	if err != nil {
		return "", "", "", err
	}
	folder := strings.Trim(u.Path, "/")
	if folder == "" {
		folder = "INBOX"
	}
	return addr, sec, folder, nil
}

// recipient returns the address of a mailto:/pec: URL.
func recipient(u *url.URL) (string, error) {
	v := u.Opaque
	if v == "" {
		v = strings.TrimPrefix(u.Path, "/")
	}
	if v == "" || u.RawQuery != "" {
		return "", fmt.Errorf("URL %s: atteso mailto:indirizzo@pec.dominio.it, senza parametri (expected mailto:address)", u.String())
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return "", fmt.Errorf("URL %s: %q non è un indirizzo PEC valido: %v (not a valid address)", u.String(), v, err)
	}
	return strings.ToLower(a.Address), nil
}

func isSender(u *url.URL) bool { return u.Scheme == "mailto" || u.Scheme == "pec" }

// Check validates the settings against the endpoint.
func (s *Settings) Check(ep *channel.Endpoint) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if ep.URL == nil {
		return errors.New("pec: URL mancante (URL missing)")
	}
	if ep.Username == "" {
		add("manca username, l'utente della casella PEC dell'hub (mailbox username missing)")
	}
	if isSender(ep.URL) {
		if _, err := recipient(ep.URL); err != nil {
			add("%v", err)
		}
		if _, _, err := s.smtpServer(); err != nil {
			add("%v", err)
		}
		from := s.From
		if from == "" {
			from = ep.Username
		}
		if _, err := mail.ParseAddress(from); err != nil {
			add("indirizzo mittente %q non valido: impostare settings.from con la PEC dell'hub (sender address invalid)", from)
		}
		for _, c := range s.Cc {
			if _, err := mail.ParseAddress(c); err != nil {
				add("cc %q non è un indirizzo valido (invalid cc)", c)
			}
		}
		if s.IMAP != "" {
			if u, err := url.Parse(s.IMAP); err != nil {
				add("imap %q non valido (bad URL)", s.IMAP)
			} else if _, _, _, err := imapServer(u); err != nil {
				add("imap: %v", err)
			}
		}
		switch s.TipoRicevuta {
		case "", "completa", "breve", "sintetica":
		default:
			add("tipo_ricevuta %q: ammessi completa, breve, sintetica (allowed: completa, breve, sintetica)", s.TipoRicevuta)
		}
		switch strings.ToUpper(s.Auth) {
		case "", "PLAIN", "LOGIN":
		default:
			add("auth %q: ammessi PLAIN o LOGIN (allowed: PLAIN, LOGIN)", s.Auth)
		}
	} else {
		if _, _, _, err := imapServer(ep.URL); err != nil {
			add("%v", err)
		}
		switch s.Ack {
		case "", "flag", "move":
		default:
			add("ack %q: usare flag o move (ack must be flag or move)", s.Ack)
		}
	}
	if s.Trust != "" {
		if _, err := os.Stat(s.Trust); err != nil {
			add("trust %s: %v: indicare la cartella dei certificati dei gestori PEC (trust store unreadable)", s.Trust, err)
		}
	} else if s.RequireTrust {
		add("require_trust senza trust: indicare i certificati dei gestori PEC (require_trust needs trust)")
	}
	return errors.Join(errs...)
}

// Kind returns the pec channel kind.
func Kind() *channel.Kind {
	return &channel.Kind{
		Name:               "pec",
		Schemes:            []string{"mailto", "pec", "imaps", "imap", "imap+plain"},
		NewSettings:        func() any { return &Settings{} },
		NewSender:          newSender,
		NewReceiver:        newReceiver,
		NewReceiptReceiver: newReceiptReceiverOrNil,
		Mailbox:            mailboxOf,
	}
}

// mailboxOf identifies the IMAP mailbox an endpoint reads (a receiver) or where its
// receipts arrive (a sender with settings.imap): server address, user and folder.
func mailboxOf(ep *channel.Endpoint) string {
	u := ep.URL
	if isSender(ep.URL) {
		raw := settingsOf(ep).IMAP
		if raw == "" {
			return ""
		}
		var err error
		if u, err = url.Parse(raw); err != nil {
			return ""
		}
	}
	addr, _, folder, err := imapServer(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(addr) + "|" + ep.Username + "|" + folder
}

// newReceiptReceiverOrNil reads the receipts of a sending endpoint that has an IMAP
// mailbox; none (nil) when the endpoint names no settings.imap.
func newReceiptReceiverOrNil(ep *channel.Endpoint, deps channel.Deps) (channel.Receiver, error) {
	if settingsOf(ep).IMAP == "" {
		return nil, nil
	}
	return NewReceiptReceiver(ep, deps)
}

func settingsOf(ep *channel.Endpoint) *Settings {
	if s, ok := ep.Settings.(*Settings); ok && s != nil {
		return s
	}
	return &Settings{}
}
