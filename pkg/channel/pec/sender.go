package pec

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/tlsconf"
)

// Headers the channel reads on deliveries and writes on inbound items and results.
const (
	// HeaderDestinatario, on a delivery, names the recipient instead of the URL's
	// (only with allow_recipient_override); on a result, the recipient used.
	HeaderDestinatario   = "PEC-Destinatario"
	HeaderMessageID      = "Message-ID" // on results: the Message-ID sent, key of the receipts
	HeaderTipo           = "PEC-Tipo"   // on inbound items: posta-certificata or a receipt kind
	HeaderMittente       = "PEC-Mittente"
	HeaderOggetto        = "PEC-Oggetto"
	HeaderIdentificativo = "PEC-Identificativo" // the provider's id of the message
	HeaderData           = "PEC-Data"           // daticert time, RFC 3339
	HeaderFirma          = "PEC-Firma"          // signature verdict: valid, unchecked
	HeaderFirmatario     = "PEC-Firmatario"
	HeaderRiferimento    = "PEC-Riferimento-Message-ID" // on receipts: the Message-ID they are about
	HeaderConsegna       = "PEC-Consegna"               // on receipts: the recipient they are about
	HeaderErrore         = "PEC-Errore"                 // on receipts: errore and errore-esteso
	HeaderSenzaAllegati  = "PEC-Senza-Allegati"         // "true" on a PEC without attachments
)

// Roles of the files of an inbound PEC besides the main one.
const (
	RoleAttachment = "attachment" // another attachment of the original message
	RoleEnvelope   = "pec"        // the signed envelope as received: the legal proof
)

// AwaitKey is the key under which a sent PEC awaits its delivery receipt: the
// Message-ID and the recipient (one delivery receipt comes per recipient).
func AwaitKey(messageID, recipient string) string {
	return "pec:" + pecmail.NormalizeMessageID(messageID) + ":" + strings.ToLower(strings.TrimSpace(recipient))
}

type sender struct {
	ep   *channel.Endpoint
	set  *Settings
	to   string
	from string
	sub  *mailbox.Submitter
	log  *slog.Logger
}

func endpointTLS(ep *channel.Endpoint) (*tls.Config, error) {
	return tlsconf.Client{CertFile: ep.TLS.CertFile, KeyFile: ep.TLS.KeyFile, RootCA: ep.TLS.CAFile,
		ServerName: ep.TLS.ServerName, MinVersion: ep.TLS.MinVersion}.Config()
}

func newSender(ep *channel.Endpoint, deps channel.Deps) (channel.Sender, error) {
	return newPECSender(ep, deps)
}

func newPECSender(ep *channel.Endpoint, deps channel.Deps) (*sender, error) {
	set := settingsOf(ep)
	if !isSender(ep.URL) {
		return nil, fmt.Errorf("pec %s: per inviare serve un URL mailto:indirizzo (sending needs a mailto: URL)", ep.Name)
	}
	to, err := recipient(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	addr, sec, err := set.smtpServer()
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	tc, err := endpointTLS(ep)
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	from := set.From
	if from == "" {
		from = ep.Username
	}
	log := deps.Log().With("endpoint", ep.Name, "channel", "pec")
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{
		Endpoint: mailbox.Endpoint{Addr: addr, Security: sec, TLS: tc, Username: ep.Username, Password: ep.Password, DialTimeout: set.DialTimeout},
		Auth:     set.Auth, Timeout: set.Timeout, MaxSize: set.MaxMessageSize,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	return &sender{ep: ep, set: set, to: to, from: strings.ToLower(from), sub: sub, log: log}, nil
}

func (s *sender) Close() error { return nil }

func (s *sender) wanted(role string) bool {
	if len(s.set.Roles) == 0 {
		return true
	}
	for _, r := range s.set.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// messageID is deterministic for a delivery attempt: if the hub stops between the
// submission and recording the result, the same attempt sends again under the same
// Message-ID, and the receipts of either copy resolve it.
func (s *sender) messageID(d *channel.Delivery, rcpt string) string {
	_, domain, _ := strings.Cut(s.from, "@")
	if d.MessageID == "" {
		return compose.NewMessageID(domain)
	}
	h := sha256.Sum256([]byte(string(d.MessageID) + "\x00" + d.Phase + "\x00" + rcpt))
	var id strings.Builder
	for _, r := range string(d.MessageID) {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			id.WriteRune(r)
		}
	}
	return fmt.Sprintf("<snodo.%s.%d.%s@%s>", id.String(), d.Attempt, hex.EncodeToString(h[:6]), domain)
}

// Send submits one PEC and returns "handed over", awaiting the delivery receipt.
func (s *sender) Send(ctx context.Context, d *channel.Delivery) (channel.Result, error) {
	if max := s.set.maxAttempts(); d.Attempt > max {
		return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: %d PEC inviate per questa consegna senza ricevuta di avvenuta consegna: "+
			"controllare l'indirizzo e le ricevute sulla cronologia del messaggio, poi rimettere in coda (%d PECs sent without a delivery receipt: check the address and the receipts, then replay)",
			s.ep.Name, max, max))
	}
	rcpt := s.to
	if v := strings.TrimSpace(d.Headers[HeaderDestinatario]); v != "" && !strings.EqualFold(v, rcpt) {
		if !s.set.AllowRecipientOverride {
			return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: la consegna chiede il destinatario %s ma l'endpoint non lo consente: "+
				"impostare allow_recipient_override (recipient override not allowed)", s.ep.Name, v))
		}
		rcpt = strings.ToLower(v)
	}
	if len(d.Files) == 0 {
		return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: consegna senza file (delivery without files)", s.ep.Name))
	}
	var atts []compose.Attachment
	var names []string
	for i, f := range d.Files {
		name := f.Name
		if i == 0 && d.FileName != "" {
			name = d.FileName
		}
		if i > 0 && !s.wanted(f.Role) {
			continue
		}
		if err := channel.SafeFileName(name); err != nil {
			return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: allegato %q: %v", s.ep.Name, name, err))
		}
		if pecmail.SafeName(name) != name {
			return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: allegato %q: nome non ammesso in un allegato (name not allowed for an attachment)", s.ep.Name, name))
		}
		atts = append(atts, compose.Attachment{Name: name, ContentType: f.ContentType, Data: f.Data})
		names = append(names, name)
	}
	subject := strings.TrimSpace(d.Subject)
	if subject == "" {
		subject = atts[0].Name
	}
	text := s.set.Text
	if text == "" {
		text = "Messaggio inviato da snodo"
		if d.Ente != "" {
			text += " per l'ente " + d.Ente
		}
		text += ".\r\nAllegati: " + strings.Join(names, ", ") + "\r\n"
	}
	id := s.messageID(d, rcpt)
	raw, id, err := compose.Build(compose.Mail{From: s.from, To: []string{rcpt}, Cc: s.set.Cc, Subject: subject, Text: text,
		Attachments: atts, MessageID: id, TipoRicevuta: s.set.TipoRicevuta,
		Header: map[string]string{"X-Snodo-Messaggio": string(d.MessageID)}})
	if err != nil {
		return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: %w", s.ep.Name, err))
	}
	if _, err := s.sub.Submit(ctx, raw); err != nil {
		if mailbox.IsPermanent(err) {
			return channel.Result{}, channel.Permanent(fmt.Errorf("pec %s: %w", s.ep.Name, err))
		}
		return channel.Result{}, fmt.Errorf("pec %s: %w", s.ep.Name, err)
	}
	s.log.Info("PEC consegnata al gestore, in attesa della ricevuta di consegna (PEC handed over, awaiting the delivery receipt)",
		"message", d.MessageID, "message_id", id, "to", rcpt, "attempt", d.Attempt)
	return channel.Result{
		Headers: map[string]string{HeaderMessageID: id, HeaderDestinatario: rcpt},
		Await:   &channel.Await{Key: AwaitKey(id, rcpt), Timeout: s.set.receiptTimeout()},
		Detail:  fmt.Sprintf("PEC %s consegnata al gestore per %s, in attesa della ricevuta di avvenuta consegna (handed over, awaiting the delivery receipt)", id, rcpt),
	}, nil
}

// SdISender sends files to the SdI by PEC: an Esito Committente to the address the
// invoice came from (passive.SdIPECSender), or an invoice to sdi01@pec.fatturapa.it.
// It returns once the provider accepted the message; the delivery receipt is resolved
// by the receiver of the same mailbox like any other.
type SdISender struct{ s *sender }

// NewSdISender makes an SdISender from a pec sender endpoint (its URL is the default
// SdI address, e.g. mailto:sdi01@pec.fatturapa.it).
func NewSdISender(ep *channel.Endpoint, deps channel.Deps) (*SdISender, error) {
	s, err := newPECSender(ep, deps)
	if err != nil {
		return nil, err
	}
	set := *s.set
	set.AllowRecipientOverride = true
	s.set = &set
	return &SdISender{s: s}, nil
}

// SendEC sends the file nomeFile to the SdI address to (the endpoint's when empty): one
// file per PEC, the file name as subject.
func (x *SdISender) SendEC(ctx context.Context, to, nomeFile string, ec []byte) error {
	d := &channel.Delivery{FileName: nomeFile, Subject: nomeFile,
		Files:   []message.File{{Name: nomeFile, Role: message.RoleMain, ContentType: "application/xml", Data: ec}},
		Headers: map[string]string{HeaderDestinatario: to}, Attempt: 1}
	_, err := x.s.Send(ctx, d)
	return err
}
