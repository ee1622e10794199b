// Package pecfront is the PEC front-end of the SdI simulator: it puts the simulated SdI
// (package sim, which speaks SDICoop) behind PEC boxes of a PEC provider (the PEC
// provider simulator, pkg/pec/sim, or any provider), so a hub configured for the SdI
// over PEC can be tested end to end, over real SMTP and IMAP.
//
// It is a bridge. Towards the hub it behaves as the SdI's PEC channel does
// (notes/sdi-facts.md §8, pec-facts.md §10): it reads its boxes (the public one,
// Boxes[0], sdi01@pec.fatturapa.it, and the ones it assigns, sdiNN@...); a PEC with one
// invoice file is handed to the simulator's SdIRiceviFile, a PEC with an EC to its
// SdIRiceviNotifica (an ES00 becomes an SE sent back by PEC, an ES01 gets no answer, as
// on the real channel). Towards the simulator it serves TrasmissioneFatture and
// RicezioneFatture (Handler): every notification the simulator sends a transmitter
// (RC, NS, MC, NE, DT, AT) goes by PEC to the box the file came from, every invoice it
// delivers goes with its MT to the recipient's PEC address (Config.Recipients) and
// counts as delivered only at the provider's avvenuta-consegna receipt, and a DT for a
// recipient goes where its invoice went.
//
// Each correspondent gets one assigned box (a stable hash of its address over
// Boxes[1:]), and every answer to it comes from there: a correct transmitter writes to
// that box from then on. Every step is an Event (Events, WaitFor), with the box a PEC
// came to, so tests check the address a hub learned.
//
// Simplifications, by design: a PEC that is not one file (none, several) or a file
// the simulator refuses before giving it an IdentificativoSdI (EI01, EI03, a bad name)
// gets a plain-text reply instead of an SdI notification; correspondents and
// identifiers are kept in memory.
package pecfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/smime"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// Box is one PEC box of the simulated SdI.
type Box struct {
	Address  string
	Password string
}

// Config configures a front-end.
type Config struct {
	// SMTPAddr and IMAPAddr are the PEC provider's servers (host:port), reached with
	// Security (default implicit TLS) and TLS (the provider's CA).
	SMTPAddr, IMAPAddr string
	Security           mailbox.Security
	TLS                *tls.Config
	// Trust verifies the provider's signatures on what the boxes receive (optional:
	// without it signatures are checked for integrity only).
	Trust *smime.TrustStore
	// Boxes are the SdI's PEC boxes: Boxes[0] is the public address a transmitter
	// writes to first (sdi01@pec.fatturapa.it); answers come from the box assigned to
	// each correspondent among Boxes[1:] (Boxes[0] when it is the only one).
	Boxes []Box
	// RiceviFileURL and RiceviNotificaURL are the simulator's SdIRiceviFile and
	// SdIRiceviNotifica (…/SdIRiceviFile, …/SdIRiceviNotifica); HTTP carries the calls.
	RiceviFileURL, RiceviNotificaURL string
	HTTP                             *http.Client
	// Recipients maps a CodiceDestinatario to the PEC address invoices for it go to;
	// DefaultRecipient takes the others ("" = refuse them).
	Recipients       map[string]string
	DefaultRecipient string
	// ReceiptTimeout bounds the wait for the avvenuta-consegna of an invoice delivered
	// (default 30 s): a delivery without it is a failed attempt for the simulator.
	ReceiptTimeout time.Duration
	// Poll is the boxes' polling period beside IDLE (default 1 s).
	Poll time.Duration
	// Simulazione appends " (SIMULAZIONE)" to subjects, as the SdI's test environment.
	Simulazione bool
	// MaxFileBytes bounds a file forwarded to the simulator (default sdi.MaxFileBytes).
	MaxFileBytes int64
	Logger       *slog.Logger
}

// Event is one step of the front-end.
type Event struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Azione: "PEC" (a PEC arrived at a box), "RiceviFile" (a file handed to the
	// simulator), "NotificaEsito" (an EC handed to it), "Invio" (a PEC sent by a box),
	// "Rifiuto" (a PEC answered with a plain-text refusal).
	Azione string `json:"azione"`
	// Casella is the SdI box the PEC came to or left from; Corrispondente the other end.
	Casella        string `json:"casella"`
	Corrispondente string `json:"corrispondente"`
	// Assegnata is the box assigned to the correspondent (for "PEC": where it should
	// have written once it had an answer).
	Assegnata         string                `json:"assegnata,omitempty"`
	Oggetto           string                `json:"oggetto,omitempty"`
	File              string                `json:"file,omitempty"`
	Tipo              sdi.Tipo              `json:"tipo,omitempty"`
	IdentificativoSdI sdi.IdentificativoSdI `json:"IdentificativoSdI,omitempty"`
	MessageID         string                `json:"message_id,omitempty"`
	Dettaglio         string                `json:"dettaglio,omitempty"`
	Err               string                `json:"errore,omitempty"`
}

// Front is a running front-end.
type Front struct {
	cfg    Config
	log    *slog.Logger
	client *sdicoop.Client
	subs   map[string]*mailbox.Submitter // by box address

	mu          sync.Mutex
	transmitter map[sdi.IdentificativoSdI]string // who sent the file
	byName      map[string]string                // file name → who sent it
	recipient   map[sdi.IdentificativoSdI]string // where an invoice was delivered
	waiters     map[string]chan receipt          // Message-ID → its delivery receipt
	seen        map[string]bool                  // PECs handled, by box and Message-ID
	announced   map[string]bool                  // PECs recorded as arrived
	events      []Event
	changed     chan struct{}
}

type receipt struct {
	ok     bool
	detail string
}

// New checks the configuration and builds a front-end; Run reads its boxes.
func New(cfg Config) (*Front, error) {
	if len(cfg.Boxes) == 0 {
		return nil, errors.New("pecfront: nessuna casella dello SdI configurata (no SdI box configured)")
	}
	if cfg.SMTPAddr == "" || cfg.IMAPAddr == "" {
		return nil, errors.New("pecfront: indicare SMTPAddr e IMAPAddr del gestore PEC (provider servers missing)")
	}
	if cfg.RiceviFileURL == "" || cfg.RiceviNotificaURL == "" {
		return nil, errors.New("pecfront: indicare RiceviFileURL e RiceviNotificaURL del simulatore SdI (simulator endpoints missing)")
	}
	cfg.Boxes = slices.Clone(cfg.Boxes)
	for i := range cfg.Boxes {
		cfg.Boxes[i].Address = strings.ToLower(strings.TrimSpace(cfg.Boxes[i].Address))
	}
	if cfg.Security == "" {
		cfg.Security = mailbox.ImplicitTLS
	}
	if cfg.ReceiptTimeout <= 0 {
		cfg.ReceiptTimeout = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = sdi.MaxFileBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "sdi-sim-pec")
	client, err := sdicoop.NewClient(sdicoop.ClientConfig{HTTP: cfg.HTTP, RiceviFileURL: cfg.RiceviFileURL, RiceviNotificaURL: cfg.RiceviNotificaURL,
		MaxFileBytes: cfg.MaxFileBytes, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("pecfront: %w", err)
	}
	f := &Front{cfg: cfg, log: log, client: client, subs: map[string]*mailbox.Submitter{},
		transmitter: map[sdi.IdentificativoSdI]string{}, byName: map[string]string{}, recipient: map[sdi.IdentificativoSdI]string{},
		waiters: map[string]chan receipt{}, seen: map[string]bool{}, announced: map[string]bool{}, changed: make(chan struct{})}
	for i, b := range cfg.Boxes {
		if !strings.Contains(b.Address, "@") || b.Password == "" {
			return nil, fmt.Errorf("pecfront: casella %d %q: servono indirizzo e password (address and password required)", i, b.Address)
		}
		if _, dup := f.subs[b.Address]; dup {
			return nil, fmt.Errorf("pecfront: casella %s ripetuta (box listed twice)", b.Address)
		}
		sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: f.endpoint(cfg.SMTPAddr, b)}, log)
		if err != nil {
			return nil, fmt.Errorf("pecfront: %w", err)
		}
		f.subs[b.Address] = sub
	}
	return f, nil
}

func (f *Front) endpoint(addr string, b Box) mailbox.Endpoint {
	return mailbox.Endpoint{Addr: addr, Security: f.cfg.Security, TLS: f.cfg.TLS, Username: b.Address, Password: b.Password, DialTimeout: 10 * time.Second}
}

// Handler serves TrasmissioneFatture and RicezioneFatture at /TrasmissioneFatture and
// /RicezioneFatture: point the simulator's TrasmissioneURL and RicezioneURL at them.
func (f *Front) Handler() http.Handler {
	mux := http.NewServeMux()
	if err := sdicoop.Mount(mux, "", sdicoop.ServerConfig{Inbound: f, Logger: f.log, MaxFileBytes: f.cfg.MaxFileBytes}); err != nil {
		panic(err) // fixed configuration: cannot fail
	}
	return mux
}

// Public returns the SdI's public box (Boxes[0]).
func (f *Front) Public() string { return f.cfg.Boxes[0].Address }

// Assigned returns the box answers to correspondent come from, and where it should
// write once it has had one.
func (f *Front) Assigned(correspondent string) string {
	bs := f.cfg.Boxes
	if len(bs) == 1 {
		return bs[0].Address
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(strings.TrimSpace(correspondent))))
	return bs[1+int(h.Sum32()%uint32(len(bs)-1))].Address
}

// Run reads every box until ctx ends.
func (f *Front) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(f.cfg.Boxes))
	for _, b := range f.cfg.Boxes {
		box := b.Address
		c, err := mailbox.NewConsumer(mailbox.IMAPConfig{Endpoint: f.endpoint(f.cfg.IMAPAddr, b), PollInterval: f.cfg.Poll,
			BackoffMin: 50 * time.Millisecond, BackoffMax: 2 * time.Second},
			func(ctx context.Context, d *mailbox.Delivery) error { return f.handle(ctx, box, d) }, f.log.With("casella", box))
		if err != nil {
			return fmt.Errorf("pecfront: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// record appends an event.
func (f *Front) record(e Event) {
	f.mu.Lock()
	e.Seq = len(f.events) + 1
	e.Time = time.Now()
	f.events = append(f.events, e)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	attrs := []any{"azione", e.Azione, "casella", e.Casella, "corrispondente", e.Corrispondente, "file", e.File, "IdentificativoSdI", e.IdentificativoSdI,
		"dettaglio", e.Dettaglio}
	if e.Err != "" {
		f.log.Warn("sdi-sim-pec: "+e.Azione, append(attrs, "err", e.Err)...)
	} else {
		f.log.Info("sdi-sim-pec: "+e.Azione, attrs...)
	}
}

// Events returns the steps so far, in order.
func (f *Front) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// WaitFor returns the first event (past or future) matching match, or ctx's error.
func (f *Front) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		f.mu.Lock()
		evs, ch := f.events[seen:], f.changed
		seen = len(f.events)
		f.mu.Unlock()
		for _, e := range evs {
			if match(e) {
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("pecfront: evento atteso non arrivato (expected event did not happen): %w", ctx.Err())
		case <-ch:
		}
	}
}

// subject is the subject of an SdI PEC: "<what> <IdentificativoSdI>".
func (f *Front) subject(what string, id sdi.IdentificativoSdI) string {
	s := what + " " + string(id)
	if f.cfg.Simulazione {
		s += " (SIMULAZIONE)"
	}
	return s
}

// subjects names the SdI's PECs by message type (observed: Invio File, Ricevuta di
// consegna, Notifica di mancata consegna; the others follow the same pattern).
var subjects = map[sdi.Tipo]string{
	sdi.RC: "Ricevuta di consegna",
	sdi.NS: "Notifica di scarto",
	sdi.MC: "Notifica di mancata consegna",
	sdi.NE: "Notifica esito",
	sdi.DT: "Notifica di decorrenza termini",
	sdi.AT: "Attestazione di avvenuta trasmissione della fattura con impossibilita di recapito",
	sdi.SE: "Notifica di scarto esito committente",
}

// mail sends one PEC from box to rcpt with files, and returns its Message-ID; when wait
// is set it returns only at the delivery receipt (an error for a failure receipt or
// none in time).
func (f *Front) mail(ctx context.Context, box, rcpt, subject, text string, files []compose.Attachment, wait bool) (string, error) {
	sub := f.subs[box]
	if sub == nil {
		return "", fmt.Errorf("pecfront: casella %s sconosciuta (unknown box)", box)
	}
	raw, id, err := compose.Build(compose.Mail{From: box, To: []string{rcpt}, Subject: subject, Text: text, Attachments: files, TipoRicevuta: "breve"})
	if err != nil {
		return "", fmt.Errorf("pecfront: %s: %w", subject, err)
	}
	var ch chan receipt
	key := pec.NormalizeMessageID(id) + "|" + strings.ToLower(rcpt)
	if wait {
		ch = make(chan receipt, 1)
		f.mu.Lock()
		f.waiters[key] = ch
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.waiters, key)
			f.mu.Unlock()
		}()
	}
	if _, err := sub.Submit(ctx, raw); err != nil {
		return id, fmt.Errorf("pecfront: invio di %q a %s: %w", subject, rcpt, err)
	}
	if !wait {
		return id, nil
	}
	t := time.NewTimer(f.cfg.ReceiptTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if !r.ok {
			return id, fmt.Errorf("pecfront: PEC %q a %s non consegnata: %s (not delivered)", subject, rcpt, r.detail)
		}
		return id, nil
	case <-t.C:
		return id, fmt.Errorf("pecfront: PEC %q a %s: nessuna ricevuta di consegna entro %s (no delivery receipt in time)", subject, rcpt, f.cfg.ReceiptTimeout)
	case <-ctx.Done():
		return id, ctx.Err()
	}
}

// ReceiveInvoice delivers an invoice the simulator hands to its recipient: a PEC with
// the file and its MT from the box assigned to the recipient's address, done at the
// delivery receipt.
func (f *Front) ReceiveInvoice(ctx context.Context, in sdicoop.InvoiceDelivery) error {
	codice := ""
	if in.MT != nil {
		codice = in.MT.CodiceDestinatario
	}
	rcpt := f.cfg.Recipients[codice]
	if rcpt == "" {
		rcpt = f.cfg.DefaultRecipient
	}
	if rcpt == "" {
		err := fmt.Errorf("pecfront: nessun indirizzo PEC per il CodiceDestinatario %q: aggiungerlo a Recipients (no PEC address for this office)", codice)
		f.record(Event{Azione: "Invio", File: in.NomeFile, Tipo: sdi.MT, IdentificativoSdI: in.IdentificativoSdI, Err: err.Error()})
		return err
	}
	rcpt = strings.ToLower(rcpt)
	box := f.Assigned(rcpt)
	f.mu.Lock()
	f.recipient[in.IdentificativoSdI] = rcpt
	f.mu.Unlock()
	text := fmt.Sprintf("Invio file %s con identificativo %s.\r\nIl file dei metadati è %s.\r\n", in.NomeFile, in.IdentificativoSdI, in.NomeFileMetadati)
	id, err := f.mail(ctx, box, rcpt, f.subject("Invio File", in.IdentificativoSdI), text, []compose.Attachment{
		{Name: in.NomeFile, ContentType: "application/octet-stream", Data: in.File},
		{Name: in.NomeFileMetadati, ContentType: "application/octet-stream", Data: in.Metadati}}, true)
	ev := Event{Azione: "Invio", Casella: box, Corrispondente: rcpt, Oggetto: "Invio File", File: in.NomeFile, Tipo: sdi.MT,
		IdentificativoSdI: in.IdentificativoSdI, MessageID: id, Dettaglio: "fattura con metadati " + in.NomeFileMetadati}
	if err != nil {
		ev.Err = err.Error()
	}
	f.record(ev)
	return err
}

// ReceiveNotification sends a notification the simulator addresses to a transmitter
// (or a DT to a recipient) by PEC, from the box assigned to it.
func (f *Front) ReceiveNotification(ctx context.Context, n sdicoop.NotificationDelivery) error {
	f.mu.Lock()
	var rcpt string
	if n.Service == sdicoop.ServiceRicezioneFatture {
		rcpt = f.recipient[n.IdentificativoSdI]
	} else {
		rcpt = f.transmitter[n.IdentificativoSdI]
		if rcpt == "" && n.Message != nil && n.Message.Body != nil {
			rcpt = f.byName[n.Message.Body.FileFattura()]
		}
	}
	f.mu.Unlock()
	if rcpt == "" {
		return fmt.Errorf("pecfront: %s %s: nessun indirizzo PEC noto per IdentificativoSdI %s (no PEC address known)", n.Tipo, n.NomeFile, n.IdentificativoSdI)
	}
	return f.notify(ctx, rcpt, n.Tipo, n.IdentificativoSdI, n.NomeFile, n.File)
}

func (f *Front) notify(ctx context.Context, rcpt string, tipo sdi.Tipo, id sdi.IdentificativoSdI, name string, data []byte) error {
	box := f.Assigned(rcpt)
	what := subjects[tipo]
	if what == "" {
		what = "Notifica " + string(tipo)
	}
	text := fmt.Sprintf("%s per il file con identificativo %s: si veda l'allegato %s.\r\n", what, id, name)
	mid, err := f.mail(ctx, box, rcpt, f.subject(what, id), text, []compose.Attachment{{Name: name, ContentType: "application/octet-stream", Data: data}}, false)
	ev := Event{Azione: "Invio", Casella: box, Corrispondente: rcpt, Oggetto: what, File: name, Tipo: tipo, IdentificativoSdI: id, MessageID: mid}
	if err != nil {
		ev.Err = err.Error()
	}
	f.record(ev)
	return err
}
