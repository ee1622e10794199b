package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/pec"
	"snodo/pkg/pec/sim"
	"snodo/pkg/pec/smime"
	"snodo/pkg/sdi"
	"snodo/pkg/signature"
	"snodo/pkg/testpki"
	"snodo/pkg/tlsconf"
)

func init() {
	register(command{name: "pec inspect", usage: "[--trust DIR] [--format text|json] FILE.eml...",
		summary: "analizza messaggi PEC: tipo, daticert, firma, allegati (inspect PEC messages: type, daticert, signature, attachments)",
		run:     runPECInspect})
	register(command{name: "pec-sim",
		usage:   "[--smtp ADDR] [--imap ADDR] [--security tls|starttls|plain] --mailbox ADDR=PASSWORD... [--fault ADDR=TIPO[:ATTESA]]...",
		summary: "simulatore di un gestore PEC (SMTP + IMAP) per prove e integrazioni (PEC provider simulator for tests and integrators)",
		run:     runPECSim})
}

// inspectResult is the JSON shape of one file.
type inspectResult struct {
	File        string              `json:"file"`
	PEC         bool                `json:"pec"`
	Valid       bool                `json:"valid"`
	Type        string              `json:"type"`
	Error       string              `json:"error,omitempty"`
	Signature   *inspectSignature   `json:"signature,omitempty"`
	MessageID   string              `json:"message_id,omitempty"`
	Subject     string              `json:"subject,omitempty"`
	From        string              `json:"from,omitempty"`
	To          []string            `json:"to,omitempty"`
	Riferimento string              `json:"riferimento_message_id,omitempty"`
	Daticert    *inspectDaticert    `json:"daticert,omitempty"`
	Postacert   *inspectPostacert   `json:"postacert,omitempty"`
	Attachments []inspectAttachment `json:"attachments"`
	Problems    []inspectProblem    `json:"problems,omitempty"`
}

type inspectSignature struct {
	Valid       bool   `json:"valid"`
	Status      string `json:"status"`
	Signer      string `json:"signer,omitempty"`
	SigningTime string `json:"signing_time,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

type inspectDaticert struct {
	Tipo             string                `json:"tipo"`
	Errore           string                `json:"errore"`
	Mittente         string                `json:"mittente"`
	Destinatari      []inspectDestinatario `json:"destinatari"`
	Risposte         string                `json:"risposte,omitempty"`
	Oggetto          string                `json:"oggetto,omitempty"`
	GestoreEmittente string                `json:"gestore_emittente"`
	Data             string                `json:"data"`
	Identificativo   string                `json:"identificativo"`
	MsgID            string                `json:"msgid,omitempty"`
	Ricevuta         string                `json:"ricevuta,omitempty"`
	Consegna         string                `json:"consegna,omitempty"`
	Ricezione        []string              `json:"ricezione,omitempty"`
	ErroreEsteso     string                `json:"errore_esteso,omitempty"`
}

type inspectDestinatario struct {
	Indirizzo string `json:"indirizzo"`
	Tipo      string `json:"tipo"`
}

type inspectPostacert struct {
	MessageID string   `json:"message_id,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	From      string   `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
}

type inspectAttachment struct {
	Name              string `json:"name"`
	ContentType       string `json:"content_type"`
	Size              int    `json:"size"`
	SdIType           string `json:"sdi_type,omitempty"`
	IdentificativoSdI string `json:"identificativo_sdi,omitempty"`
	SdIFile           string `json:"sdi_file,omitempty"` // the invoice file a notification is about
	SdIError          string `json:"sdi_error,omitempty"`
}

type inspectProblem struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
}

func runPECInspect(_ context.Context, env *cliEnv, args []string) int {
	fl := flag.NewFlagSet("snodo pec inspect", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	trustDir := fl.String("trust", "", "cartella (o file) dei certificati dei gestori PEC affidabili, PEM o DER (trusted PEC provider certificates)")
	format := fl.String("format", "text", "formato: text o json, un oggetto per file (output format: text or json, one object per file)")
	maxSize := fl.Int64("max-size", pec.DefaultMaxSize, "dimensione massima di un messaggio in byte (maximum message size in bytes)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(env.stderr, "snodo pec inspect: --format %q: usare text o json (use text or json)\n", *format)
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(env.stderr, "uso: snodo pec inspect [--trust DIR] [--format text|json] FILE.eml...")
		return 2
	}
	opt := pec.Options{MaxSize: *maxSize}
	if *trustDir != "" {
		ts, err := smime.LoadTrust(*trustDir)
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo pec inspect: %v\n", err)
			return 2
		}
		opt.Trust = ts
	}
	status := 0
	for _, file := range fl.Args() {
		r := inspectFile(file, opt)
		if !r.Valid {
			status = 1
		}
		if *format == "json" {
			enc := json.NewEncoder(env.stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(env.stderr, "snodo pec inspect: %v\n", err)
				return 1
			}
			continue
		}
		writeInspectText(env.stdout, r)
	}
	return status
}

func inspectFile(file string, opt pec.Options) *inspectResult {
	r := &inspectResult{File: file, Attachments: []inspectAttachment{}}
	st, err := os.Stat(file)
	if err != nil {
		r.Type, r.Error = "errore", fmt.Sprintf("file non leggibile: %v (file unreadable)", err)
		return r
	}
	if st.IsDir() {
		r.Type, r.Error = "errore", "è una cartella, non un messaggio (a folder, not a message)"
		return r
	}
	max := opt.MaxSize
	if max <= 0 {
		max = pec.DefaultMaxSize
	}
	if st.Size() > max {
		r.Type, r.Error = "errore", fmt.Sprintf("messaggio di %d byte oltre il limite di %d: una PEC non supera 30 MB (message exceeds the limit; a PEC is at most 30 MB)", st.Size(), max)
		return r
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		r.Type, r.Error = "errore", fmt.Sprintf("file non leggibile: %v (file unreadable)", err)
		return r
	}
	e, err := pec.Parse(filepath.Base(file), raw, opt)
	if e == nil {
		r.Type, r.Error = "errore", err.Error()
		return r
	}
	r.Type = string(e.Kind)
	r.PEC = e.Kind != pec.KindNonPEC
	r.Valid = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	if !r.PEC {
		return r
	}
	r.MessageID, r.Subject, r.From, r.To, r.Riferimento = e.MessageID, e.Subject, e.From, e.To, e.Riferimento
	sig := &inspectSignature{Valid: e.Signature.OK(), Status: string(e.Signature.Status), Signer: e.Signature.Signer, Reason: e.Signature.Reason}
	if !e.Signature.SigningTime.IsZero() {
		sig.SigningTime = e.Signature.SigningTime.Format(time.RFC3339)
	}
	r.Signature = sig
	if d := e.Daticert; d != nil {
		dc := &inspectDaticert{Tipo: string(d.Tipo), Errore: string(d.Errore), Mittente: d.Mittente, Risposte: d.Risposte,
			Oggetto: d.Oggetto, GestoreEmittente: d.GestoreEmittente, Identificativo: d.Identificativo, MsgID: d.MsgID,
			Ricevuta: d.Ricevuta, Consegna: d.Consegna, Ricezione: d.Ricezione, ErroreEsteso: d.ErroreEsteso,
			Destinatari: []inspectDestinatario{}}
		if t, err := d.Time(); err == nil {
			dc.Data = t.Format(time.RFC3339)
		} else {
			dc.Data = strings.TrimSpace(d.Data.Giorno + " " + d.Data.Ora + " " + d.Data.Zona)
		}
		for _, de := range d.Destinatari {
			dc.Destinatari = append(dc.Destinatari, inspectDestinatario{Indirizzo: de.Indirizzo, Tipo: de.Tipo})
		}
		r.Daticert = dc
	}
	if p := e.Postacert; p != nil {
		r.Postacert = &inspectPostacert{MessageID: p.MessageID, Subject: p.Subject, From: p.From, To: p.To}
		for _, a := range p.Attachments {
			r.Attachments = append(r.Attachments, describeAttachment(a))
		}
	}
	for _, p := range e.Problems {
		r.Problems = append(r.Problems, inspectProblem{Code: string(p.Code), Severity: string(p.Severity), Reason: p.Reason})
	}
	return r
}

// describeAttachment adds what the SdI file naming and content say: an invoice, or a
// notification with its type and IdentificativoSdI.
func describeAttachment(a pec.Attachment) inspectAttachment {
	out := inspectAttachment{Name: a.Name, ContentType: a.ContentType, Size: a.Size}
	if filename.IsMessage(a.Name) {
		m, err := sdi.Parse(a.Name, a.Data)
		if err != nil {
			if t, ok := sdi.TipoFromName(a.Name); ok {
				out.SdIType = string(t)
			}
			out.SdIError = err.Error()
			return out
		}
		out.SdIType = string(m.Tipo)
		out.IdentificativoSdI = string(m.Body.Identificativo())
		out.SdIFile = m.Body.FileFattura()
		return out
	}
	if _, err := filename.ParseInvoice(a.Name); err == nil {
		out.SdIType = "fattura"
	}
	return out
}

func writeInspectText(w io.Writer, r *inspectResult) {
	fmt.Fprintf(w, "%s\n", r.File)
	if !r.PEC {
		if r.Type == string(pec.KindNonPEC) {
			fmt.Fprintf(w, "  non è una PEC (not a PEC): %s\n\n", r.Error)
		} else {
			fmt.Fprintf(w, "  errore (error): %s\n\n", r.Error)
		}
		return
	}
	fmt.Fprintf(w, "  tipo (type):        %s — %s\n", r.Type, pec.Kind(r.Type).Descrizione())
	if r.Valid {
		fmt.Fprintln(w, "  esito (verdict):    PEC valida (valid PEC)")
	} else {
		fmt.Fprintln(w, "  esito (verdict):    PEC NON valida (NOT a valid PEC)")
	}
	if s := r.Signature; s != nil {
		line := s.Status
		if s.Signer != "" {
			line += ", firmatario (signer) " + s.Signer
		}
		if s.SigningTime != "" {
			line += ", firmata il (signed at) " + s.SigningTime
		}
		fmt.Fprintf(w, "  firma (signature):  %s\n", line)
		if s.Reason != "" && !s.Valid {
			fmt.Fprintf(w, "                      %s\n", s.Reason)
		}
	}
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-19s %s\n", k+":", v)
		}
	}
	kv("Message-ID", r.MessageID)
	kv("oggetto (subject)", r.Subject)
	kv("da (from)", r.From)
	kv("a (to)", strings.Join(r.To, ", "))
	kv("riferimento", r.Riferimento)
	if d := r.Daticert; d != nil {
		fmt.Fprintln(w, "  daticert.xml:")
		dkv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "    %-18s %s\n", k+":", v)
			}
		}
		dkv("tipo", d.Tipo)
		dkv("errore", d.Errore)
		dkv("mittente", d.Mittente)
		for _, de := range d.Destinatari {
			dkv("destinatario", de.Indirizzo+" ("+de.Tipo+")")
		}
		dkv("risposte", d.Risposte)
		dkv("oggetto", d.Oggetto)
		dkv("gestore-emittente", d.GestoreEmittente)
		dkv("data", d.Data)
		dkv("identificativo", d.Identificativo)
		dkv("msgid", d.MsgID)
		dkv("ricevuta", d.Ricevuta)
		dkv("consegna", d.Consegna)
		dkv("ricezione", strings.Join(d.Ricezione, ", "))
		dkv("errore-esteso", d.ErroreEsteso)
	} else {
		fmt.Fprintln(w, "  daticert.xml:       assente (missing)")
	}
	if p := r.Postacert; p != nil {
		fmt.Fprintf(w, "  postacert.eml:      %s, da %s, oggetto %q\n", p.MessageID, p.From, p.Subject)
	}
	if len(r.Attachments) > 0 {
		fmt.Fprintln(w, "  allegati (attachments):")
		for _, a := range r.Attachments {
			line := fmt.Sprintf("    - %s (%s, %d byte)", a.Name, a.ContentType, a.Size)
			switch {
			case a.SdIType == "fattura":
				line += " fattura SdI (SdI invoice file)"
			case a.SdIType != "":
				line += " SdI " + a.SdIType
				if a.IdentificativoSdI != "" {
					line += " IdentificativoSdI " + a.IdentificativoSdI
				}
				if a.SdIError != "" {
					line += " — " + a.SdIError
				}
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "  problemi (problems):")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "    [%s] %s: %s\n", p.Severity, p.Code, p.Reason)
		}
	}
	fmt.Fprintln(w)
}

// mailboxFlags collects repeated --mailbox ADDR=PASSWORD flags.
type mailboxFlags []sim.Mailbox

func (m *mailboxFlags) String() string { return fmt.Sprint(len(*m), " caselle") }

func (m *mailboxFlags) Set(v string) error {
	addr, pass, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(addr) == "" || pass == "" {
		return errors.New("atteso INDIRIZZO=PASSWORD (expected ADDRESS=PASSWORD)")
	}
	*m = append(*m, sim.Mailbox{Address: strings.TrimSpace(addr), Password: pass})
	return nil
}

// faultFlags collects repeated --fault ADDR=KIND[:DELAY] flags.
type faultFlags map[string]sim.Fault

func (f faultFlags) String() string { return fmt.Sprint(len(f), " guasti") }

func (f faultFlags) Set(v string) error {
	addr, spec, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(addr) == "" {
		return errors.New("atteso INDIRIZZO=TIPO[:ATTESA], es. sdi01@pec.fatturapa.it=ritardo:5s (expected ADDRESS=KIND[:DELAY])")
	}
	kind, delay, _ := strings.Cut(spec, ":")
	fault := sim.Fault{Kind: sim.FaultKind(kind)}
	switch fault.Kind {
	case sim.FaultErroreConsegna, sim.FaultNoReceipt, sim.FaultVirus:
	case sim.FaultDelay, sim.FaultPreavviso:
		fault.Delay = 5 * time.Second
	default:
		return fmt.Errorf("guasto %q sconosciuto: %s, %s, %s, %s, %s (unknown fault)", kind,
			sim.FaultErroreConsegna, sim.FaultNoReceipt, sim.FaultDelay, sim.FaultVirus, sim.FaultPreavviso)
	}
	if delay != "" {
		d, err := time.ParseDuration(delay)
		if err != nil || d < 0 {
			return fmt.Errorf("attesa %q non valida, es. 5s (invalid delay)", delay)
		}
		fault.Delay = d
	}
	f[strings.ToLower(strings.TrimSpace(addr))] = fault
	return nil
}

const pecSimHelp = `
Il simulatore accetta messaggi in SMTP (con autenticazione) dalle sue caselle, risponde
con ricevute firmate (accettazione, avvenuta consegna, errori) e consegna ai destinatari
una busta di trasporto firmata, leggibile in IMAP. I certificati di prova (TLS e firma)
sono generati all'avvio; con --out sono scritti in una cartella, per i client e per
"snodo pec inspect --trust". Guasti per destinatario: --fault.

Esempio locale, in chiaro su 127.0.0.1 (local example, plain):
  snodo pec-sim --security plain --out /tmp/pec-sim \
    --mailbox protocollo@pec.comune.example.it=segreta \
    --mailbox sdi01@pec.fatturapa.it=segreta \
    --fault sdi01@pec.fatturapa.it=ritardo:10s
`

func runPECSim(ctx context.Context, env *cliEnv, args []string) int {
	fl := flag.NewFlagSet("snodo pec-sim", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	fl.Usage = func() {
		fmt.Fprintln(env.stderr, "Uso: snodo pec-sim [opzioni]")
		fl.PrintDefaults()
		fmt.Fprint(env.stderr, pecSimHelp)
	}
	var (
		boxes                        mailboxFlags
		domains                      stringList
		smtpAddr, imapAddr, security string
		certFile, keyFile            string
		signCert, signKey, name, out string
		logLevel                     string
		noIdle                       bool
		maxBytes                     int64
	)
	faults := faultFlags{}
	fl.Var(&boxes, "mailbox", "casella INDIRIZZO=PASSWORD, ripetibile (mailbox ADDRESS=PASSWORD, repeatable)")
	fl.Var(&domains, "domain", "dominio PEC servito, ripetibile; default i domini delle caselle (served PEC domain, repeatable)")
	fl.StringVar(&smtpAddr, "smtp", "127.0.0.1:4465", "indirizzo SMTP di invio (SMTP submission address)")
	fl.StringVar(&imapAddr, "imap", "127.0.0.1:4993", "indirizzo IMAP (IMAP address)")
	fl.StringVar(&security, "security", "tls", "tls (SMTPS/IMAPS), starttls o plain (solo 127.0.0.1) (port security)")
	fl.StringVar(&certFile, "cert", "", "certificato server TLS PEM; vuoto: generato (TLS server certificate; empty: generated)")
	fl.StringVar(&keyFile, "key", "", "chiave del certificato TLS (TLS key)")
	fl.StringVar(&signCert, "sign-cert", "", "certificato PEM del gestore per firmare buste e ricevute; vuoto: generato (provider signing certificate)")
	fl.StringVar(&signKey, "sign-key", "", "chiave del certificato di firma (signing key)")
	fl.StringVar(&name, "provider-name", "Gestore PEC simulato snodo", "nome del gestore in daticert.xml (provider name)")
	fl.StringVar(&out, "out", "", "cartella dove scrivere i certificati generati: tls-ca.pem, trust/ (folder for generated certificates)")
	fl.BoolVar(&noIdle, "no-idle", false, "non offrire IDLE, per provare il polling dei client (hide IDLE)")
	fl.Int64Var(&maxBytes, "max-bytes", sim.DefaultMaxMessageBytes, "limite PEC: dimensione × destinatari (PEC size limit)")
	fl.Var(faults, "fault", "guasto per destinatario INDIRIZZO=TIPO[:ATTESA]: errore-consegna, nessuna-ricevuta, ritardo, virus, preavviso (fault per recipient)")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn, error")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.stderr, "snodo pec-sim: argomenti inattesi %q (unexpected arguments)\n", fl.Args())
		return 2
	}
	if len(boxes) == 0 {
		fmt.Fprintln(env.stderr, "snodo pec-sim: almeno una --mailbox INDIRIZZO=PASSWORD (at least one --mailbox)")
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(env.stderr, "snodo pec-sim: --log-level %q: %v\n", logLevel, err)
		return 2
	}
	cfg := sim.Config{Mailboxes: boxes, Domains: domains, ProviderName: name, Security: sim.Security(security),
		SMTPAddr: smtpAddr, IMAPAddr: imapAddr, NoIdle: noIdle, MaxMessageBytes: maxBytes,
		Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))}
	if (certFile == "") != (keyFile == "") || (signCert == "") != (signKey == "") {
		fmt.Fprintln(env.stderr, "snodo pec-sim: --cert e --key (e --sign-cert e --sign-key) vanno dati insieme (give certificate and key together)")
		return 2
	}
	if certFile != "" {
		tc, err := tlsconf.Server{CertFile: certFile, KeyFile: keyFile}.Config()
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo pec-sim: %v\n", err)
			return 2
		}
		cfg.TLS = tc
	}
	if signCert != "" {
		ls, err := signature.LoadSigner(signCert, signKey)
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo pec-sim: %v\n", err)
			return 2
		}
		cfg.Signer = &smime.Signer{Cert: ls.Cert, Key: ls.Key, Chain: ls.Chain}
	}
	s, err := sim.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "snodo pec-sim: %v\n", err)
		return 2
	}
	defer s.Close()
	for addr, f := range faults {
		s.SetFault(addr, f)
	}
	if out != "" {
		if err := writeSimCerts(out, s); err != nil {
			fmt.Fprintf(env.stderr, "snodo pec-sim: --out %s: %v\n", out, err)
			return 2
		}
	}
	fmt.Fprintf(env.stdout, "SMTP %s (%s)\nIMAP %s (%s)\n", s.SMTPAddr(), s.Security(), s.IMAPAddr(), s.Security())
	for _, b := range boxes {
		fmt.Fprintf(env.stdout, "casella (mailbox) %s\n", strings.ToLower(b.Address))
	}
	if out != "" {
		fmt.Fprintf(env.stdout, "certificati in (certificates in) %s: tls-ca.pem, trust/\n", out)
	}
	<-ctx.Done()
	st := s.Stats()
	fmt.Fprintf(env.stdout, "fine: %d inviati, %d accettati, %d rifiutati, %d consegnati, %d ricevute (done)\n",
		st.Submitted, st.Accepted, st.Refused, st.Delivered, st.Receipts)
	return 0
}

// stringList collects a repeated string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func writeSimCerts(dir string, s *sim.Sim) error {
	if err := os.MkdirAll(filepath.Join(dir, "trust"), 0o755); err != nil {
		return err
	}
	if ca := s.TLSCA(); ca != nil {
		if err := os.WriteFile(filepath.Join(dir, "tls-ca.pem"), testpki.CertPEM(ca), 0o644); err != nil {
			return err
		}
	}
	trust := s.SigningCA()
	if trust == nil {
		trust = s.Provider().Signer.Cert
	}
	return os.WriteFile(filepath.Join(dir, "trust", "gestore-pec-simulato.pem"), testpki.CertPEM(trust), 0o644)
}
