package sdicoop

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/soap"
)

// Inbound is what the hub implements to take in what the SdI delivers. Both methods
// must return only after the file is durably committed; the SOAP answer goes out after
// they return, and an error makes the SdI deliver again (it tries three times).
type Inbound interface {
	// ReceiveInvoice takes an invoice and its metadata (RiceviFatture). A redelivery of
	// the same IdentificativoSdI returns nil and is not stored twice.
	ReceiveInvoice(ctx context.Context, in InvoiceDelivery) error
	// ReceiveNotification takes a notification (TrasmissioneFatture operations and
	// RicezioneFatture.NotificaDecorrenzaTermini). A redelivery of the same file
	// (IdentificativoSdI and NomeFile) returns nil and is not stored twice.
	ReceiveNotification(ctx context.Context, n NotificationDelivery) error
}

// Peer describes the call that brought a file.
type Peer struct {
	RemoteAddr string
	// ClientCN is the subject CN of the client certificate (mTLS), "" without one.
	ClientCN   string
	MTOM       bool
	ReceivedAt time.Time
}

// InvoiceDelivery is an invoice the SdI delivered with RiceviFatture.
type InvoiceDelivery struct {
	IdentificativoSdI sdi.IdentificativoSdI
	NomeFile          string
	File              []byte // as sent by the supplier: .xml, .xml.p7m or .zip
	NomeFileMetadati  string
	Metadati          []byte
	// MT is the parsed metadata file, nil when it could not be read (MTErr says why;
	// the invoice is delivered anyway: the SdI has already accepted it).
	MT    *sdi.MetadatiInvioFile
	MTErr error
	Peer  Peer
}

// NotificationDelivery is a notification the SdI delivered.
type NotificationDelivery struct {
	Service   string   // ServiceTrasmissioneFatture or ServiceRicezioneFatture
	Operation string   // OpRicevutaConsegna, ..., OpNotificaDecorrenzaTermini
	Tipo      sdi.Tipo // the message type the operation carries
	// IdentificativoSdI and NomeFile are those of the SOAP request: the invoice's
	// identifier and the notification file's name.
	IdentificativoSdI sdi.IdentificativoSdI
	NomeFile          string
	File              []byte
	// Message is the parsed notification (for an AT zip, with the original file), nil
	// when it could not be read or is not of type Tipo (ParseErr says why); the file is
	// delivered anyway, for an operator to look at.
	Message  *sdi.Message
	ParseErr error
	Peer     Peer
}

// ServerConfig configures the hub-side handlers.
type ServerConfig struct {
	Inbound Inbound
	Logger  *slog.Logger
	// MaxFileBytes bounds each file (default sdi.MaxFileBytes, the SdI's 5 MB).
	MaxFileBytes int64
	// MaxBodyBytes bounds a SOAP request (default soap.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxInFlight bounds concurrent requests per service (default 64).
	MaxInFlight int
	// Encoding of responses (default: MTOM when the request was MTOM).
	Encoding soap.ResponseEncoding
	// AllowedClientCNs, when set, accepts only requests whose verified TLS client
	// certificate has one of these subject CNs (the SdI's: "Sistema Interscambio
	// Fattura PA", in test "SistemaInterscambioFatturaPATest"); others get HTTP 403. Use
	// it when the listener also serves other clients, so tlsconf.Server.ClientCNs cannot.
	AllowedClientCNs []string
}

// guard refuses callers whose certificate CN is not allowed.
func (c *ServerConfig) guard(service string, next http.Handler) http.Handler {
	if len(c.AllowedClientCNs) == 0 {
		return next
	}
	allowed := slices.Clone(c.AllowedClientCNs)
	log := c.Logger.With("service", service)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		if !slices.Contains(allowed, cn) {
			log.Warn("sdi: chiamante non autorizzato (caller not allowed)", "remote", r.RemoteAddr, "cn", cn)
			http.Error(w, fmt.Sprintf("certificato client %q non autorizzato per %s (client certificate not allowed)", cn, service), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *ServerConfig) defaults() error {
	if c.Inbound == nil {
		return fmt.Errorf("sdicoop: ServerConfig.Inbound is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = sdi.MaxFileBytes
	}
	return nil
}

func (c *ServerConfig) soapOptions(service string) soap.ServerOptions {
	return soap.ServerOptions{Service: service, MaxBodyBytes: c.MaxBodyBytes, MaxInFlight: c.MaxInFlight, Encoding: c.Encoding, Logger: c.Logger}
}

// Mount registers both hub-side services on mux at prefix+"/RicezioneFatture" and
// prefix+"/TrasmissioneFatture" (the hub uses prefix "/sdi").
func Mount(mux *http.ServeMux, prefix string, cfg ServerConfig) error {
	rf, err := NewRicezioneFatture(cfg)
	if err != nil {
		return err
	}
	tf, err := NewTrasmissioneFatture(cfg)
	if err != nil {
		return err
	}
	mux.Handle(prefix+"/"+ServiceRicezioneFatture, rf)
	mux.Handle(prefix+"/"+ServiceTrasmissioneFatture, tf)
	return nil
}

// NewRicezioneFatture serves RicezioneFatture: RiceviFatture (answers ER01 once the
// invoice is committed) and NotificaDecorrenzaTermini (one-way, HTTP 202).
func NewRicezioneFatture(cfg ServerConfig) (http.Handler, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("service", ServiceRicezioneFatture)
	riceviFatture := func(ctx context.Context, r *soap.Request) (any, error) {
		var req FileSdIConMetadati
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
		if err := req.IdentificativoSdI.CheckWS(); err != nil {
			return nil, soap.ClientFault("RiceviFatture: %v", err)
		}
		for _, e := range []error{
			CheckNomeFile("NomeFile", req.NomeFile),
			CheckNomeFile("NomeFileMetadati", req.NomeFileMetadati),
			checkFile("File", req.NomeFile, req.File, cfg.MaxFileBytes),
			checkFile("Metadati", req.NomeFileMetadati, req.Metadati, sdi.MaxMessageBytes),
		} {
			if e != nil {
				return nil, soap.ClientFault("RiceviFatture %s: %v", req.IdentificativoSdI, e)
			}
		}
		in := InvoiceDelivery{
			IdentificativoSdI: req.IdentificativoSdI, NomeFile: req.NomeFile, File: req.File,
			NomeFileMetadati: req.NomeFileMetadati, Metadati: req.Metadati, Peer: peer(r),
		}
		in.MT, in.MTErr = parseMT(req.NomeFileMetadati, req.Metadati, req.IdentificativoSdI)
		if in.MTErr != nil {
			log.Warn("sdi: metadati illeggibili, fattura accettata comunque (unreadable metadata, invoice taken anyway)",
				"IdentificativoSdI", req.IdentificativoSdI, "NomeFile", req.NomeFile, "err", in.MTErr)
		}
		if err := cfg.Inbound.ReceiveInvoice(ctx, in); err != nil {
			return nil, fmt.Errorf("RiceviFatture %s %s: %w", req.IdentificativoSdI, req.NomeFile, err)
		}
		log.Info("sdi: fattura ricevuta (invoice received)", "IdentificativoSdI", req.IdentificativoSdI, "NomeFile", req.NomeFile,
			"bytes", len(req.File), "mtom", r.MTOM)
		return &RispostaRiceviFatture{Esito: ER01}, nil
	}
	ops := []soap.Operation{
		{Name: OpRiceviFatture, Action: ActionRiceviFatture, Request: xml.Name{Space: NSRicezione, Local: "fileSdIConMetadati"}, Handle: riceviFatture},
		{Name: OpNotificaDecorrenzaTermini, Action: ActionRicezioneDT, Request: xml.Name{Space: NSRicezione, Local: "fileSdI"}, OneWay: true,
			Handle: notificationHandler(cfg, log, ServiceRicezioneFatture, OpNotificaDecorrenzaTermini, sdi.DT)},
	}
	srv, err := soap.NewServer(cfg.soapOptions(ServiceRicezioneFatture), ops...)
	if err != nil {
		return nil, err
	}
	return cfg.guard(ServiceRicezioneFatture, srv), nil
}

// NewTrasmissioneFatture serves TrasmissioneFatture: the six one-way notifications to
// the transmitter (HTTP 202 once the notification is committed).
func NewTrasmissioneFatture(cfg ServerConfig) (http.Handler, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("service", ServiceTrasmissioneFatture)
	var ops []soap.Operation
	for _, op := range trasmissioneOps {
		ops = append(ops, soap.Operation{
			Name: op.name, Action: fmt.Sprintf(actionTrasmissioneFmt, op.name),
			Request: xml.Name{Space: NSTrasmissione, Local: op.element}, OneWay: true,
			Handle: notificationHandler(cfg, log, ServiceTrasmissioneFatture, op.name, op.tipo),
		})
	}
	srv, err := soap.NewServer(cfg.soapOptions(ServiceTrasmissioneFatture), ops...)
	if err != nil {
		return nil, err
	}
	return cfg.guard(ServiceTrasmissioneFatture, srv), nil
}

func notificationHandler(cfg ServerConfig, log *slog.Logger, service, op string, tipo sdi.Tipo) func(context.Context, *soap.Request) (any, error) {
	return func(ctx context.Context, r *soap.Request) (any, error) {
		var req FileSdI
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
		if err := req.IdentificativoSdI.CheckWS(); err != nil {
			return nil, soap.ClientFault("%s: %v", op, err)
		}
		if err := CheckNomeFile("NomeFile", req.NomeFile); err != nil {
			return nil, soap.ClientFault("%s %s: %v", op, req.IdentificativoSdI, err)
		}
		max := int64(sdi.MaxMessageBytes)
		if tipo == sdi.AT {
			max = cfg.MaxFileBytes + sdi.MaxMessageBytes // the zip holds the original file
		}
		if err := checkFile("File", req.NomeFile, req.File, max); err != nil {
			return nil, soap.ClientFault("%s %s: %v", op, req.IdentificativoSdI, err)
		}
		n := NotificationDelivery{
			Service: service, Operation: op, Tipo: tipo,
			IdentificativoSdI: req.IdentificativoSdI, NomeFile: req.NomeFile, File: req.File, Peer: peer(r),
		}
		n.Message, n.ParseErr = parseNotification(req, tipo)
		if n.ParseErr != nil {
			log.Warn("sdi: notifica illeggibile, consegnata comunque all'operatore (unreadable notification, kept for an operator)",
				"op", op, "IdentificativoSdI", req.IdentificativoSdI, "NomeFile", req.NomeFile, "err", n.ParseErr)
		}
		if err := cfg.Inbound.ReceiveNotification(ctx, n); err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", op, req.IdentificativoSdI, req.NomeFile, err)
		}
		log.Info("sdi: notifica ricevuta (notification received)", "op", op, "IdentificativoSdI", req.IdentificativoSdI,
			"NomeFile", req.NomeFile, "mtom", r.MTOM)
		return nil, nil
	}
}

func parseMT(name string, data []byte, id sdi.IdentificativoSdI) (*sdi.MetadatiInvioFile, error) {
	m, err := sdi.Parse(name, data)
	if err != nil {
		return nil, err
	}
	mt, ok := m.Body.(*sdi.MetadatiInvioFile)
	if !ok {
		return nil, fmt.Errorf("%s: atteso il file metadati MT, ricevuto %s (expected the MT metadata file)", name, m.Tipo)
	}
	if mt.IdentificativoSdI != id {
		return mt, fmt.Errorf("%s: IdentificativoSdI %s diverso da quello della richiesta %s (IdentificativoSdI differs from the request's)", name, mt.IdentificativoSdI, id)
	}
	return mt, nil
}

func parseNotification(req FileSdI, tipo sdi.Tipo) (*sdi.Message, error) {
	m, err := sdi.Parse(req.NomeFile, req.File)
	if err != nil {
		return nil, err
	}
	if m.Tipo != tipo {
		return nil, fmt.Errorf("%s: l'operazione porta messaggi %s, ricevuto %s (the operation carries %s, got %s)", req.NomeFile, tipo, m.Tipo, tipo, m.Tipo)
	}
	return m, nil
}

func peer(r *soap.Request) Peer {
	p := Peer{RemoteAddr: r.HTTP.RemoteAddr, MTOM: r.MTOM, ReceivedAt: time.Now()}
	if tls := r.HTTP.TLS; tls != nil && len(tls.PeerCertificates) > 0 {
		p.ClientCN = tls.PeerCertificates[0].Subject.CommonName
	}
	return p
}
