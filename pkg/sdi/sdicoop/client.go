package sdicoop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/soap"
)

// ClientConfig configures the hub's client of the SdI services.
type ClientConfig struct {
	// HTTP carries the calls: give it the hub's client certificate and the SdI's CA
	// (tlsconf.Client) and a timeout.
	HTTP *http.Client
	// RiceviFileURL and RiceviNotificaURL are the SdI endpoints (in production
	// https://servizi.fatturapa.it/ricevi_file and .../ricevi_notifica).
	RiceviFileURL     string
	RiceviNotificaURL string
	// Inline sends files as inline base64 instead of MTOM (the default).
	Inline bool
	// MaxFileBytes bounds what is sent (default sdi.MaxFileBytes).
	MaxFileBytes int64
	Logger       *slog.Logger
}

// Client calls SdIRiceviFile and SdIRiceviNotifica.
type Client struct {
	cfg  ClientConfig
	soap *soap.Client
	log  *slog.Logger
}

// NewClient checks the configuration and builds the client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.RiceviFileURL == "" && cfg.RiceviNotificaURL == "" {
		return nil, errors.New("sdicoop: indicare almeno un indirizzo SdI (RiceviFileURL o RiceviNotificaURL) (no SdI endpoint configured)")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = sdi.MaxFileBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:  cfg,
		soap: &soap.Client{HTTP: cfg.HTTP, MTOM: !cfg.Inline, Logger: cfg.Logger, UserAgent: "snodo-sdicoop"},
		log:  cfg.Logger,
	}, nil
}

// Error is a failed call to the SdI. Retryable says whether sending the same file
// again later makes sense; OutcomeUnknown that the SdI may have processed the request
// (the response was lost): before sending again, a caller that must not send twice
// checks what the SdI did (notifications arrive by file name), or relies on the SdI
// rejecting a duplicate file name (code 00002).
type Error struct {
	Op             string // "RiceviFile" or "NotificaEsito"
	Code           string // EI01, EI02, EI03, ES02, or "" for other failures
	Retryable      bool
	OutcomeUnknown bool
	Reason         string // Italian, then English
	Err            error  // the underlying error, if any
}

func (e *Error) Error() string {
	s := "sdi " + e.Op + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is an *Error worth retrying.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

var codeReasons = map[string]string{
	EI01: "EI01 file vuoto: controllare il file inviato (empty file)",
	EI02: "EI02 servizio SdI non disponibile: riprovare più tardi (service unavailable: retry later)",
	EI03: "EI03 utente non abilitato: verificare l'accreditamento del canale SDICoop e il certificato client (user not enabled: check the channel accreditation and client certificate)",
	ES02: "ES02 servizio SdI non disponibile: riprovare più tardi (service unavailable: retry later)",
}

// transportError classifies a soap.Client error.
func transportError(op string, err error) *Error {
	e := &Error{Op: op, Err: err, Retryable: soap.Retryable(err)}
	var te *soap.TransportError
	var f *soap.Fault
	var he *soap.HTTPError
	switch {
	case errors.As(err, &te):
		e.OutcomeUnknown = te.Sent
		e.Reason = "SdI non raggiungibile (SdI unreachable)"
		if te.Sent {
			e.Reason = "richiesta inviata ma risposta persa: esito sconosciuto (request sent, response lost: outcome unknown)"
		}
		if errors.Is(err, context.Canceled) {
			e.Retryable = true // the hub stopped; the next run sends again
		}
	case errors.As(err, &f):
		e.Reason = "l'SdI ha risposto con un errore SOAP (the SdI answered with a SOAP fault)"
		e.OutcomeUnknown = f.Code != soap.CodeClient
	case errors.As(err, &he):
		e.Reason = fmt.Sprintf("l'SdI ha risposto HTTP %d (the SdI answered HTTP %d)", he.Status, he.Status)
		e.OutcomeUnknown = he.Status >= 500
	default:
		e.Reason = "risposta SdI illeggibile: esito sconosciuto (unreadable SdI answer: outcome unknown)"
		e.OutcomeUnknown = true
	}
	return e
}

// RiceviFileResult is what the SdI answers to an accepted file.
type RiceviFileResult struct {
	IdentificativoSdI sdi.IdentificativoSdI
	DataOraRicezione  time.Time
}

// RiceviFile sends an invoice (or archive) file to the SdI. It succeeds only with a
// non-zero IdentificativoSdI and no Errore; EI02 and network failures are retryable,
// EI01 and EI03 are not.
func (c *Client) RiceviFile(ctx context.Context, nomeFile string, file []byte) (*RiceviFileResult, error) {
	const op = "RiceviFile"
	if c.cfg.RiceviFileURL == "" {
		return nil, &Error{Op: op, Reason: "indirizzo SdIRiceviFile non configurato (SdIRiceviFile URL not configured)"}
	}
	if err := CheckNomeFile("NomeFile", nomeFile); err != nil {
		return nil, &Error{Op: op, Reason: "file non inviato (file not sent)", Err: err}
	}
	if err := checkFile("File", nomeFile, file, c.cfg.MaxFileBytes); err != nil {
		return nil, &Error{Op: op, Reason: "file non inviato (file not sent)", Err: err}
	}
	var resp RispostaSdIRiceviFile
	if err := c.soap.Call(ctx, c.cfg.RiceviFileURL, ActionRiceviFile, &FileSdIAccoglienza{NomeFile: nomeFile, File: file}, &resp); err != nil {
		return nil, transportError(op, err)
	}
	if resp.Errore != "" {
		reason, ok := codeReasons[resp.Errore]
		if !ok {
			reason = fmt.Sprintf("codice di errore sconosciuto %q (unknown error code)", clipName(resp.Errore))
		}
		return nil, &Error{Op: op, Code: resp.Errore, Retryable: resp.Errore == EI02, Reason: nomeFile + ": " + reason}
	}
	if resp.IdentificativoSdI.IsZero() {
		return nil, &Error{Op: op, OutcomeUnknown: true, Reason: nomeFile +
			": l'SdI non ha assegnato un IdentificativoSdI (0): verificare sul portale prima di reinviare (the SdI assigned no IdentificativoSdI)"}
	}
	c.log.Info("sdi: file inviato (file sent)", "NomeFile", nomeFile, "IdentificativoSdI", resp.IdentificativoSdI, "bytes", len(file))
	return &RiceviFileResult{IdentificativoSdI: resp.IdentificativoSdI, DataOraRicezione: resp.DataOraRicezione.Time}, nil
}

// NotificaEsitoResult is the SdI's answer to an Esito Committente: ES01 (accepted) or
// ES00 with the ScartoEsito (SE) saying why it was refused.
type NotificaEsitoResult struct {
	Esito string // ES01 or ES00
	// For ES00: the SE file, and its parsed content (nil if unreadable: ScartoErr).
	NomeFileScarto string
	FileScarto     []byte
	Scarto         *sdi.ScartoEsitoCommittente
	ScartoErr      error
}

// NotificaEsito sends an Esito Committente (EC file) about invoice id. The EC is checked
// first (type EC, same IdentificativoSdI, schema rules): a bad one is not sent. ES02
// and network failures are retryable; ES00 is an answer, not an error.
func (c *Client) NotificaEsito(ctx context.Context, id sdi.IdentificativoSdI, nomeFile string, ec []byte) (*NotificaEsitoResult, error) {
	const op = "NotificaEsito"
	if c.cfg.RiceviNotificaURL == "" {
		return nil, &Error{Op: op, Reason: "indirizzo SdIRiceviNotifica non configurato (SdIRiceviNotifica URL not configured)"}
	}
	if err := checkEC(id, nomeFile, ec); err != nil {
		return nil, &Error{Op: op, Reason: "esito non inviato (EC not sent)", Err: err}
	}
	req := &FileSdI{XMLName: nameFileSdIRicezione, IdentificativoSdI: id, NomeFile: nomeFile, File: ec}
	var resp RispostaSdINotificaEsito
	if err := c.soap.Call(ctx, c.cfg.RiceviNotificaURL, ActionNotificaEsito, req, &resp); err != nil {
		return nil, transportError(op, err)
	}
	switch resp.Esito {
	case ES01:
		c.log.Info("sdi: esito committente accettato (EC accepted)", "IdentificativoSdI", id, "NomeFile", nomeFile)
		return &NotificaEsitoResult{Esito: ES01}, nil
	case ES00:
		r := &NotificaEsitoResult{Esito: ES00}
		if resp.ScartoEsito == nil {
			r.ScartoErr = errors.New("ES00 senza ScartoEsito (ES00 without ScartoEsito)")
			return r, nil
		}
		r.NomeFileScarto, r.FileScarto = resp.ScartoEsito.NomeFile, resp.ScartoEsito.File
		m, err := sdi.Parse(r.NomeFileScarto, r.FileScarto)
		switch {
		case err != nil:
			r.ScartoErr = err
		case m.Tipo != sdi.SE:
			r.ScartoErr = fmt.Errorf("%s: atteso SE, ricevuto %s (expected an SE)", r.NomeFileScarto, m.Tipo)
		default:
			r.Scarto = m.Body.(*sdi.ScartoEsitoCommittente)
		}
		c.log.Warn("sdi: esito committente scartato (EC refused)", "IdentificativoSdI", id, "NomeFile", nomeFile, "SE", r.NomeFileScarto)
		return r, nil
	case ES02:
		return nil, &Error{Op: op, Code: ES02, Retryable: true, Reason: nomeFile + ": " + codeReasons[ES02]}
	default:
		return nil, &Error{Op: op, OutcomeUnknown: true, Reason: fmt.Sprintf("%s: esito sconosciuto %q (unknown Esito)", nomeFile, clipName(resp.Esito))}
	}
}

// checkEC refuses an EC that the SdI would reject as not conforming.
func checkEC(id sdi.IdentificativoSdI, nomeFile string, ec []byte) error {
	if err := id.CheckWS(); err != nil {
		return err
	}
	if err := CheckNomeFile("NomeFile", nomeFile); err != nil {
		return err
	}
	m, err := sdi.Parse(nomeFile, ec)
	if err != nil {
		return err
	}
	body, ok := m.Body.(*sdi.NotificaEsitoCommittente)
	if !ok {
		return fmt.Errorf("%s: atteso un esito committente EC, trovato %s (expected an EC)", nomeFile, m.Tipo)
	}
	if body.IdentificativoSdI != id {
		return fmt.Errorf("%s: IdentificativoSdI %s nell'EC diverso da %s (the EC names another IdentificativoSdI)", nomeFile, body.IdentificativoSdI, id)
	}
	return body.Check()
}
