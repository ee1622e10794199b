// Package ecdifferito is a SOAP service for enti that manage their debt positions the
// way MPay's IntegraEcDifferito web service does (regional-peers.md §2.4): inserimentoEC,
// variazioneEC, cancellazioneEC and discaricoEC, with MPay's record names (RequestBase,
// Documento, Anagrafica, listScadenze, listTributi). It is the hub's own contract, written
// after MPay's field list (MPay's WSDL itself is not public); every operation maps onto
// the same repository as the REST API, so an ente can mix the two.
//
// The document number (numeroDocumento) is the position's id. A document without
// instalments is paid in one go (impBollettinoTotaleDocumento, due dataScadenza); each
// scadenza of listScadenze is an instalment with its own notice number. The tributi are
// the transfers of a single payment (1–5, summing to the total); an instalment is credited
// to the first tributo's account. discaricoEC records a payment collected outside pagoPA
// (at the ente's desk): the instalment, or the document, becomes paid.
//
// Answers carry codiceEsito (00 ok, 01 dati non validi, 02 già presente, 03 non trovata,
// 04 non modificabile, 05 non autorizzato, 99 errore interno) and messaggioEsito in
// Italian, then English. The caller's ente comes from the hub's authentication
// (EnteFromRequest); codiceEnte in the request must match it.
package ecdifferito

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/posapi"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/soap"
)

// NS is the namespace of the service's messages.
const NS = "urn:snodo:pagopa:IntegraEcDifferito:1"

// Esito codes.
const (
	EsitoOK              = "00"
	EsitoDatiNonValidi   = "01"
	EsitoGiaPresente     = "02"
	EsitoNonTrovata      = "03"
	EsitoNonModificabile = "04"
	EsitoNonAutorizzato  = "05"
	EsitoErrore          = "99"
)

// RequestBase is the header of every request.
type RequestBase struct {
	CodiceUtente    string `xml:"codiceUtente,omitempty"`
	TipoServizio    string `xml:"tipoServizio,omitempty"` // tipo pendenza
	CodiceEnte      string `xml:"codiceEnte"`             // the ente: route id or fiscal code
	TipoUfficio     string `xml:"tipoUfficio,omitempty"`
	CodiceUfficio   string `xml:"codiceUfficio,omitempty"`
	ImpostaServizio string `xml:"impostaServizio,omitempty"`
}

// Documento is the debt document.
type Documento struct {
	NumeroDocumento              string `xml:"numeroDocumento"`
	AnnoEmissione                string `xml:"annoEmissione,omitempty"`
	NumeroBollettinoPagoPA       string `xml:"numeroBollettinoPagoPA,omitempty"` // notice number of the single payment, generated when empty
	ImpBollettinoTotaleDocumento string `xml:"impBollettinoTotaleDocumento"`     // euro, 2 decimals
	DataScadenza                 string `xml:"dataScadenza,omitempty"`           // YYYY-MM-DD
	IBANAccredito                string `xml:"ibanAccredito,omitempty"`
	Causale                      string `xml:"causale"`
	Tassonomia                   string `xml:"tassonomia,omitempty"`
}

// Anagrafica is the debtor.
type Anagrafica struct {
	CodiceFiscale    string `xml:"codiceFiscale"`
	Denominazione    string `xml:"denominazione"`
	TipoAnagrafica   string `xml:"tipoAnagrafica,omitempty"` // F or G
	IndirizzoFiscale string `xml:"indirizzoFiscale,omitempty"`
	Email            string `xml:"email,omitempty"`
}

// Scadenza is an instalment.
type Scadenza struct {
	NumeroRata             int    `xml:"numeroRata"`
	DataScadenzaRata       string `xml:"dataScadenzaRata"`
	NumeroBollettinoPagoPA string `xml:"numeroBollettinoPagoPA,omitempty"`
	ImpBollettinoRata      string `xml:"impBollettinoRata"`
}

// Tributo is a revenue line: a transfer.
type Tributo struct {
	CodiceTributo           string `xml:"codiceTributo,omitempty"`
	ImpTributo              string `xml:"impTributo"`
	NoteTributo             string `xml:"noteTributo,omitempty"`
	CodiceCapitolo          string `xml:"codiceCapitolo,omitempty"`
	Accertamento            string `xml:"accertamento,omitempty"`
	Articolo                string `xml:"articolo,omitempty"`
	IdentificativoDominio   string `xml:"identificativoDominio,omitempty"` // beneficiary, default the ente
	IBANBancario            string `xml:"IBANBancario,omitempty"`
	IBANPostale             string `xml:"IBANPostale,omitempty"`
	CodiceTipologiaServizio string `xml:"codiceTipologiaServizio,omitempty"` // taxonomy (transferCategory)
}

// InserimentoRequest is inserimentoEC and variazioneEC.
type InserimentoRequest struct {
	XMLName      xml.Name
	RequestBase  RequestBase `xml:"requestBase"`
	Documento    Documento   `xml:"documento"`
	Anagrafica   Anagrafica  `xml:"anagrafica"`
	ListScadenze []Scadenza  `xml:"listScadenze>scadenza"`
	ListTributi  []Tributo   `xml:"listTributi>tributo"`
}

// CancellazioneRequest is cancellazioneEC.
type CancellazioneRequest struct {
	XMLName         xml.Name
	RequestBase     RequestBase `xml:"requestBase"`
	NumeroDocumento string      `xml:"numeroDocumento"`
}

// DiscaricoRequest is discaricoEC: a payment collected outside pagoPA.
type DiscaricoRequest struct {
	XMLName         xml.Name
	RequestBase     RequestBase `xml:"requestBase"`
	NumeroDocumento string      `xml:"numeroDocumento"`
	NumeroRata      int         `xml:"numeroRata"` // 0: the single payment
	DataPagamento   string      `xml:"dataPagamento"`
	ImportoPagato   string      `xml:"importoPagato"`
	Riferimento     string      `xml:"riferimento"` // the ente's id of the collection, unique per ente
}

// Avviso is a notice of a document, in answers.
type Avviso struct {
	NumeroRata             int    `xml:"numeroRata"`
	NumeroBollettinoPagoPA string `xml:"numeroBollettinoPagoPA"`
	IUV                    string `xml:"identificativoUnivocoVersamento"`
	Importo                string `xml:"importo"`
}

// Response is every answer.
type Response struct {
	XMLName        xml.Name
	CodiceEsito    string      `xml:"codiceEsito"`
	MessaggioEsito string      `xml:"messaggioEsito"`
	ListAvvisi     *ListAvvisi `xml:"listAvvisi,omitempty"`
}

// ListAvvisi lists the notices of a stored document.
type ListAvvisi struct {
	Avvisi []Avviso `xml:"avviso"`
}

// Service is the SOAP endpoint.
type Service struct {
	cfg  *pagopa.Config
	db   *posdb.DB
	ente posapi.EnteFromRequest
	log  *slog.Logger
	soap *soap.Server
}

// New builds the service; mount it where the hub serves SOAP for enti.
func New(cfg *pagopa.Config, db *posdb.DB, ente posapi.EnteFromRequest, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, db: db, ente: ente, log: log.With("service", "IntegraEcDifferito")}
	op := func(name string, h func(ctx context.Context, r *soap.Request, e *pagopa.Ente) *Response) soap.Operation {
		return soap.Operation{Name: name, Action: name, Request: xml.Name{Space: NS, Local: name},
			Handle: func(ctx context.Context, r *soap.Request) (any, error) {
				var resp *Response
				if e, msg := s.caller(r.HTTP); e == nil {
					resp = esito(EsitoNonAutorizzato, "%s", msg)
				} else {
					resp = h(ctx, r, e)
				}
				resp.XMLName = xml.Name{Space: NS, Local: name + "Response"}
				s.log.Info("IntegraEcDifferito", "op", name, "esito", resp.CodiceEsito, "messaggio", resp.MessaggioEsito)
				return resp, nil
			}}
	}
	srv, err := soap.NewServer(soap.ServerOptions{Service: "IntegraEcDifferito", MaxBodyBytes: 1 << 20, Logger: log},
		op("inserimentoEC", func(ctx context.Context, r *soap.Request, e *pagopa.Ente) *Response { return s.put(ctx, r, e, false) }),
		op("variazioneEC", func(ctx context.Context, r *soap.Request, e *pagopa.Ente) *Response { return s.put(ctx, r, e, true) }),
		op("cancellazioneEC", s.cancel),
		op("discaricoEC", s.discharge),
	)
	if err != nil {
		return nil, err
	}
	s.soap = srv
	return s, nil
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.soap.ServeHTTP(w, r) }

func esito(code, format string, args ...any) *Response {
	return &Response{CodiceEsito: code, MessaggioEsito: fmt.Sprintf(format, args...)}
}

func (s *Service) caller(r *http.Request) (*pagopa.Ente, string) {
	id, ok := s.ente(r)
	if !ok {
		return nil, "richiesta non autenticata (unauthenticated)"
	}
	for i := range s.cfg.Enti {
		if e := &s.cfg.Enti[i]; e.RouteID == id || e.FiscalCode == id {
			return e, ""
		}
	}
	return nil, fmt.Sprintf("ente %s senza pagamenti configurati (ente without payments)", id)
}

// checkEnte verifies codiceEnte names the caller.
func checkEnte(b *RequestBase, e *pagopa.Ente) *Response {
	if b.CodiceEnte != e.FiscalCode && b.CodiceEnte != e.RouteID {
		return esito(EsitoNonAutorizzato, "codiceEnte %q diverso dall'ente autenticato %s (codiceEnte is not the caller)", b.CodiceEnte, e.FiscalCode)
	}
	return nil
}

// storeErr maps repository errors to esiti.
func (s *Service) storeErr(err error) *Response {
	var ve *position.ValidationError
	switch {
	case errors.As(err, &ve):
		return esito(EsitoDatiNonValidi, "%v", ve)
	case errors.Is(err, posdb.ErrExists), errors.Is(err, posdb.ErrNoticeTaken):
		return esito(EsitoGiaPresente, "%s", lastPart(err))
	case errors.Is(err, posdb.ErrNotFound):
		return esito(EsitoNonTrovata, "%s", posdb.ErrNotFound)
	case errors.Is(err, posdb.ErrNotModifiable), errors.Is(err, posdb.ErrConflict):
		return esito(EsitoNonModificabile, "%s", lastPart(err))
	}
	s.log.Error("IntegraEcDifferito: store", "err", err)
	return esito(EsitoErrore, "errore interno: riprovare più tardi (internal error: retry later)")
}

func lastPart(err error) string {
	m := err.Error()
	if i := strings.LastIndex(m, ": "); i >= 0 {
		return m[i+2:]
	}
	return m
}

func (s *Service) put(ctx context.Context, r *soap.Request, e *pagopa.Ente, update bool) *Response {
	var in InserimentoRequest
	if err := r.Decode(&in); err != nil {
		return esito(EsitoDatiNonValidi, "%v", err)
	}
	if resp := checkEnte(&in.RequestBase, e); resp != nil {
		return resp
	}
	p, resp := toPosition(&in, e)
	if resp != nil {
		return resp
	}
	if update {
		cur, err := s.db.Get(ctx, e.FiscalCode, p.IUPD)
		if err != nil {
			return s.storeErr(err)
		}
		p.Version = cur.Version
		if err := s.db.Update(ctx, e, p); err != nil {
			return s.storeErr(err)
		}
	} else if _, err := s.db.Create(ctx, e, p); err != nil {
		return s.storeErr(err)
	}
	out := esito(EsitoOK, "posizione %s registrata (position stored)", p.IUPD)
	out.ListAvvisi = &ListAvvisi{}
	for _, o := range p.Options {
		out.ListAvvisi.Avvisi = append(out.ListAvvisi.Avvisi, Avviso{NumeroRata: o.Instalment, NumeroBollettinoPagoPA: o.NoticeNumber, IUV: o.IUV, Importo: amount.Format(o.Amount)})
	}
	return out
}

// toPosition maps MPay's records onto a position.
func toPosition(in *InserimentoRequest, e *pagopa.Ente) (*position.Position, *Response) {
	bad := func(format string, args ...any) (*position.Position, *Response) {
		return nil, esito(EsitoDatiNonValidi, format, args...)
	}
	d := &in.Documento
	tipo := strings.ToUpper(in.Anagrafica.TipoAnagrafica)
	if tipo == "" {
		tipo = "F"
		if len(in.Anagrafica.CodiceFiscale) == 11 {
			tipo = "G"
		}
	}
	p := &position.Position{
		IUPD: d.NumeroDocumento, Type: in.RequestBase.TipoServizio, Description: d.Causale,
		Debtor: position.Debtor{Type: tipo, ID: strings.ToUpper(in.Anagrafica.CodiceFiscale), Name: in.Anagrafica.Denominazione,
			Street: in.Anagrafica.IndirizzoFiscale, Email: in.Anagrafica.Email},
	}
	total, err := amount.Parse(d.ImpBollettinoTotaleDocumento)
	if err != nil {
		return bad("impBollettinoTotaleDocumento: %s", strings.TrimPrefix(err.Error(), "amount: malformed: "))
	}
	if len(in.ListTributi) == 0 {
		ib := d.IBANAccredito
		if ib == "" {
			ib = e.IBANFor(p.Type)
		}
		in.ListTributi = []Tributo{{ImpTributo: amount.Format(total), IBANBancario: ib, CodiceTipologiaServizio: d.Tassonomia}}
	}
	var transfers []position.Transfer
	for i, t := range in.ListTributi {
		a, err := amount.Parse(t.ImpTributo)
		if err != nil {
			return bad("tributo %d, impTributo: %s", i+1, strings.TrimPrefix(err.Error(), "amount: malformed: "))
		}
		tr := position.Transfer{Ref: t.CodiceTributo, Amount: a, Beneficiary: t.IdentificativoDominio, IBAN: t.IBANBancario,
			Remittance: t.NoteTributo, Category: t.CodiceTipologiaServizio}
		if tr.IBAN == "" {
			tr.IBAN = t.IBANPostale
		}
		if tr.Remittance == "" {
			tr.Remittance = d.Causale
		}
		if tr.Category == "" {
			tr.Category = d.Tassonomia
		}
		for _, m := range []struct{ k, v string }{{"CAPITOLOBILANCIO", t.CodiceCapitolo}, {"CODICEACCERTAMENTO", t.Accertamento}, {"ARTICOLOBILANCIO", t.Articolo}} {
			if m.v != "" {
				tr.Metadata = append(tr.Metadata, position.MapEntry{Key: m.k, Value: m.v})
			}
		}
		transfers = append(transfers, tr)
	}
	if len(in.ListScadenze) == 0 {
		due, err := position.ParseDate(d.DataScadenza)
		if err != nil {
			return bad("dataScadenza: %v", err)
		}
		p.Options = []position.Option{{NoticeNumber: d.NumeroBollettinoPagoPA, Amount: total, DueDate: due, Transfers: transfers}}
		return p, nil
	}
	for i, sc := range in.ListScadenze {
		a, err := amount.Parse(sc.ImpBollettinoRata)
		if err != nil {
			return bad("scadenza %d, impBollettinoRata: %s", i+1, strings.TrimPrefix(err.Error(), "amount: malformed: "))
		}
		due, err := position.ParseDate(sc.DataScadenzaRata)
		if err != nil {
			return bad("scadenza %d, dataScadenzaRata: %v", i+1, err)
		}
		first := transfers[0]
		first.Amount, first.Metadata = a, nil
		p.Options = append(p.Options, position.Option{NoticeNumber: sc.NumeroBollettinoPagoPA, Instalment: sc.NumeroRata, Amount: a, DueDate: due,
			Transfers: []position.Transfer{first}})
	}
	return p, nil
}

func (s *Service) cancel(ctx context.Context, r *soap.Request, e *pagopa.Ente) *Response {
	var in CancellazioneRequest
	if err := r.Decode(&in); err != nil {
		return esito(EsitoDatiNonValidi, "%v", err)
	}
	if resp := checkEnte(&in.RequestBase, e); resp != nil {
		return resp
	}
	if _, err := s.db.Cancel(ctx, e.FiscalCode, in.NumeroDocumento, 0); err != nil {
		return s.storeErr(err)
	}
	return esito(EsitoOK, "posizione %s annullata (position cancelled)", in.NumeroDocumento)
}

func (s *Service) discharge(ctx context.Context, r *soap.Request, e *pagopa.Ente) *Response {
	var in DiscaricoRequest
	if err := r.Decode(&in); err != nil {
		return esito(EsitoDatiNonValidi, "%v", err)
	}
	if resp := checkEnte(&in.RequestBase, e); resp != nil {
		return resp
	}
	if strings.TrimSpace(in.Riferimento) == "" {
		return esito(EsitoDatiNonValidi, "riferimento obbligatorio: identifica l'incasso e rende ripetibile la richiesta (riferimento required)")
	}
	paid, err := amount.Parse(in.ImportoPagato)
	if err != nil {
		return esito(EsitoDatiNonValidi, "importoPagato: %s", strings.TrimPrefix(err.Error(), "amount: malformed: "))
	}
	if _, err := position.ParseDate(in.DataPagamento); err != nil {
		return esito(EsitoDatiNonValidi, "dataPagamento: %v", err)
	}
	p, err := s.db.Get(ctx, e.FiscalCode, in.NumeroDocumento)
	if err != nil {
		return s.storeErr(err)
	}
	var opt *position.Option
	for i := range p.Options {
		if p.Options[i].Instalment == in.NumeroRata {
			opt = &p.Options[i]
		}
	}
	if opt == nil {
		return esito(EsitoNonTrovata, "rata %d non presente nella posizione %s (instalment not found)", in.NumeroRata, in.NumeroDocumento)
	}
	res, err := s.db.RecordReceipt(ctx, &posdb.Receipt{
		IDPA: e.FiscalCode, ReceiptID: "discarico:" + in.Riferimento, FiscalCode: e.FiscalCode, NoticeNumber: opt.NoticeNumber,
		CreditorReferenceID: opt.IUV, Amount: paid, TransfersAmount: paid, Outcome: "OK", PaymentDateTime: in.DataPagamento,
		Primitive: "discaricoEC", Raw: []byte(fmt.Sprintf("discaricoEC %s rata %d %s %s %s", in.NumeroDocumento, in.NumeroRata, in.DataPagamento, in.ImportoPagato, in.Riferimento)),
	})
	if errors.Is(err, posdb.ErrReceiptConflict) {
		return esito(EsitoGiaPresente, "riferimento %s già usato per un altro incasso (riferimento already used)", in.Riferimento)
	}
	if err != nil {
		return s.storeErr(err)
	}
	msg := fmt.Sprintf("incasso %s registrato: posizione %s (collection recorded)", in.Riferimento, in.NumeroDocumento)
	if res.Duplicate {
		msg = fmt.Sprintf("incasso %s già registrato (already recorded)", in.Riferimento)
	}
	if len(res.Receipt.Anomalies) > 0 {
		msg += "; anomalie: " + strings.Join(res.Receipt.Anomalies, ", ")
	}
	return esito(EsitoOK, "%s", msg)
}
