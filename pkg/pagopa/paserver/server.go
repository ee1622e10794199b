// Package paserver is the hub's paForNode SOAP service: the endpoint the pagoPA Node calls
// for the enti the hub serves (paVerifyPaymentNotice, paGetPayment, paGetPaymentV2,
// paSendRT, paSendRTV2, paDemandPaymentNotice). Mount the Server (an http.Handler) at
// /pagopa/paForNode.
//
// Every answer is an HTTP 200 paForNode response; a refusal is outcome KO with a
// faultBean carrying a PAA_* code (see fault.go). A SOAP Fault is returned only when the
// request is not a paForNode message at all. Requests are decoded leniently (elements
// the schema adds later are ignored) and then checked for what paForNode.xsd requires
// (PAA_SINTASSI_XSD). idBrokerPA, idStation and idPA are checked against the
// configuration before anything else.
//
// Verify and getPayment never change a position. A receipt is stored with the request as
// received, idempotently, and closes the option it pays, in one transaction with the
// repository's OnReceipt hook (the delivery to the ente). A receipt refused for its
// addressing (unknown ente, wrong station or broker), its syntax or a conflicting
// receiptId is kept in the quarantine table for an operator; a receipt for an unknown,
// cancelled, expired or already paid notice is accepted (the money was collected) and
// flagged as an anomaly.
package paserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/pafornode"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/soap"
)

// DefaultMaxBodyBytes bounds a request: a receipt with five transfers, stamps and
// metadata is a few kilobytes.
const DefaultMaxBodyBytes = 1 << 20

// DemandHandler builds the position of a spontaneous payment requested at a PSP
// (paDemandPaymentNotice) from the service data. The server stores it (generating its
// notice number) and answers with it. Return a *Fault to answer a specific PAA code.
type DemandHandler interface {
	Demand(ctx context.Context, e *pagopa.Ente, req *pafornode.DemandRequest) (*position.Position, error)
}

// Options tune a Server.
type Options struct {
	Logger       *slog.Logger
	MaxBodyBytes int64         // default DefaultMaxBodyBytes
	Demand       DemandHandler // nil: paDemandPaymentNotice answers PAA_SEMANTICA
}

// Server serves paForNode.
type Server struct {
	cfg    *pagopa.Config
	db     *posdb.DB
	log    *slog.Logger
	demand DemandHandler
	max    int64
	soap   *soap.Server
}

type rawKey struct{}

// New checks cfg and builds the service over the repository db.
func New(cfg *pagopa.Config, db *posdb.DB, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{cfg: cfg, db: db, log: o.Logger.With("service", "paForNode"), demand: o.Demand, max: o.MaxBodyBytes}
	var ops []soap.Operation
	for _, op := range []string{pafornode.OpVerify, pafornode.OpGetPayment, pafornode.OpGetPaymentV2, pafornode.OpSendRT, pafornode.OpSendRTV2, pafornode.OpDemand} {
		ops = append(ops, soap.Operation{Name: op, Action: op, Request: pafornode.Name(pafornode.RequestElement[op]), Handle: s.handler(op)})
	}
	// pagopa-mock-ec's verify sample binds the element to the nodeForPsp namespace.
	ops = append(ops, soap.Operation{Name: pafornode.OpVerify, Request: xmlName(pafornode.NSNodeForPsp, pafornode.RequestElement[pafornode.OpVerify]),
		Handle: s.handler(pafornode.OpVerify)})
	srv, err := soap.NewServer(soap.ServerOptions{Service: "paForNode", MaxBodyBytes: o.MaxBodyBytes, MaxInFlight: 256,
		Encoding: soap.AlwaysInline, Logger: o.Logger}, ops...)
	if err != nil {
		return nil, err
	}
	s.soap = srv
	return s, nil
}

// ServeHTTP keeps the request bytes (receipts are stored as received) and hands the
// request to the SOAP dispatcher.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.soap.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.Header().Set("Content-Type", soap.ContentType11)
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, "richiesta oltre il limite di %d byte (request exceeds the %d-byte limit)\n", mbe.Limit, mbe.Limit)
			return
		}
		http.Error(w, "lettura della richiesta interrotta (request read failed)", http.StatusBadRequest)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), rawKey{}, body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.soap.ServeHTTP(w, r)
}

func rawBody(ctx context.Context) []byte {
	b, _ := ctx.Value(rawKey{}).([]byte)
	return b
}

func (s *Server) handler(op string) func(ctx context.Context, req *soap.Request) (any, error) {
	return func(ctx context.Context, req *soap.Request) (any, error) {
		begin := time.Now()
		var resp any
		var f *Fault
		var attrs []any
		switch op {
		case pafornode.OpVerify:
			resp, f, attrs = s.verify(ctx, req)
		case pafornode.OpGetPayment, pafornode.OpGetPaymentV2:
			resp, f, attrs = s.getPayment(ctx, req, op == pafornode.OpGetPaymentV2)
		case pafornode.OpSendRT, pafornode.OpSendRTV2:
			resp, f, attrs = s.sendRT(ctx, req, op)
		case pafornode.OpDemand:
			resp, f, attrs = s.demandNotice(ctx, req)
		}
		attrs = append(attrs, "op", op, "elapsed", time.Since(begin))
		if f != nil {
			attrs = append(attrs, "outcome", "KO", "faultCode", f.Code, "description", f.Description)
			if f.Code == PaaSystemError {
				s.log.Error("paForNode: KO", attrs...)
			} else {
				s.log.Warn("paForNode: KO", attrs...)
			}
			return koResponse(op, f), nil
		}
		s.log.Info("paForNode: OK", attrs...)
		return resp, nil
	}
}

// decode reads the body into v and checks what the schema requires.
func (s *Server) decode(req *soap.Request, v interface{ Check() error }) *Fault {
	if err := req.Decode(v); err != nil {
		return fault(PaaSintassiXSD, s.cfg.BrokerID, "%v", err)
	}
	if err := v.Check(); err != nil {
		return fault(PaaSintassiXSD, s.cfg.BrokerID, "%v", err)
	}
	return nil
}

// identify checks who the Node is calling: the broker, the station, the ente, and that
// the ente is reachable through that station.
func (s *Server) identify(h *pafornode.Header) (*pagopa.Ente, *Fault) {
	id := s.cfg.BrokerID
	e := s.cfg.Ente(h.IDPA)
	if e != nil {
		id = e.FiscalCode
	}
	switch {
	case h.IDBrokerPA != s.cfg.BrokerID:
		return nil, fault(PaaIDIntermediarioErrato, id, "idBrokerPA %s: l'intermediario di questo servizio è %s (this service's broker is %s)", h.IDBrokerPA, s.cfg.BrokerID, s.cfg.BrokerID)
	case s.cfg.Station(h.IDStation) == nil:
		return nil, fault(PaaStazioneIntErrata, id, "idStation %s non è una stazione dell'intermediario %s (not a station of the broker)", h.IDStation, s.cfg.BrokerID)
	case e == nil:
		return nil, fault(PaaIDDominioErrato, id, "idPA %s non è un ente servito dall'intermediario %s (creditor not served by this broker)", h.IDPA, s.cfg.BrokerID)
	case !e.ServesOn(h.IDStation):
		return nil, fault(PaaStazioneIntErrata, id, "l'ente %s non è associato alla stazione %s: stazioni dell'ente %v (the creditor is not on this station)", e.FiscalCode, h.IDStation, e.Stations)
	}
	return e, nil
}

// payable finds the option of the notice and checks it can be paid now.
func (s *Server) payable(ctx context.Context, e *pagopa.Ente, qr *pafornode.QrCode) (*position.Position, *position.Option, *Fault) {
	if qr.FiscalCode != e.FiscalCode {
		return nil, nil, fault(PaaIDDominioErrato, e.FiscalCode, "qrCode/fiscalCode %s diverso da idPA %s (qrCode fiscal code differs from idPA)", qr.FiscalCode, e.FiscalCode)
	}
	p, err := s.db.ByNotice(ctx, e.FiscalCode, qr.NoticeNumber)
	if errors.Is(err, posdb.ErrNotFound) {
		return nil, nil, fault(PaaPagamentoSconosciuto, e.FiscalCode, "nessuna posizione dell'ente %s con numero avviso %s (no position with this notice)", e.FiscalCode, qr.NoticeNumber)
	}
	if err != nil {
		s.log.Error("paForNode: read position", "idPA", e.FiscalCode, "noticeNumber", qr.NoticeNumber, "err", err)
		return nil, nil, fault(PaaSystemError, e.FiscalCode, "errore interno nella lettura della posizione: riprovare (internal error: retry)")
	}
	o, err := p.CheckPayable(qr.NoticeNumber, s.db.Now())
	switch {
	case errors.Is(err, position.ErrPaid):
		return nil, nil, fault(PaaPagamentoDuplicato, e.FiscalCode, "%s", trimClass(err))
	case errors.Is(err, position.ErrCancelled):
		return nil, nil, fault(PaaPagamentoAnnullato, e.FiscalCode, "%s", trimClass(err))
	case errors.Is(err, position.ErrExpired):
		return nil, nil, fault(PaaPagamentoScaduto, e.FiscalCode, "%s", trimClass(err))
	case err != nil:
		return nil, nil, fault(PaaPagamentoSconosciuto, e.FiscalCode, "%s", trimClass(err))
	}
	return p, o, nil
}

// trimClass drops the "position: ..." class prefix of a payability error.
func trimClass(err error) string {
	msg := err.Error()
	for _, c := range []error{position.ErrPaid, position.ErrCancelled, position.ErrExpired, position.ErrUnknown} {
		if p := c.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}

func (s *Server) verify(ctx context.Context, req *soap.Request) (any, *Fault, []any) {
	var in pafornode.VerifyRequest
	if f := s.decode(req, &in); f != nil {
		return nil, f, nil
	}
	attrs := []any{"idPA", in.IDPA, "idStation", in.IDStation, "noticeNumber", in.QrCode.NoticeNumber}
	e, f := s.identify(&in.Header)
	if f != nil {
		return nil, f, attrs
	}
	p, o, f := s.payable(ctx, e, &in.QrCode)
	if f != nil {
		return nil, f, attrs
	}
	return &pafornode.VerifyResponse{
		XMLName:            pafornode.Name(pafornode.ResponseElement[pafornode.OpVerify]),
		Response:           pafornode.Response{Outcome: "OK"},
		PaymentList:        &pafornode.PaymentList{Options: []pafornode.PaymentOptionDescription{optionDescription(o)}},
		PaymentDescription: p.Description,
		FiscalCodePA:       e.FiscalCode,
		CompanyName:        p.CompanyName,
		OfficeName:         p.OfficeName,
	}, nil, append(attrs, "amount", amount.Format(o.Amount))
}

func optionDescription(o *position.Option) pafornode.PaymentOptionDescription {
	return pafornode.PaymentOptionDescription{
		Amount:            amount.Format(o.Amount),
		Options:           "EQ",
		DueDate:           o.DueDate.String(),
		DetailDescription: o.Description,
		AllCCP:            allPostal(o),
	}
}

// allPostal reports whether every transfer credits a postal account (allCCP).
func allPostal(o *position.Option) bool {
	for _, t := range o.Transfers {
		if t.Stamp != nil || !iban.IsPostal(t.IBAN) {
			return false
		}
	}
	return len(o.Transfers) > 0
}

func (s *Server) getPayment(ctx context.Context, req *soap.Request, v2 bool) (any, *Fault, []any) {
	var in pafornode.GetPaymentRequest
	if f := s.decode(req, &in); f != nil {
		return nil, f, nil
	}
	attrs := []any{"idPA", in.IDPA, "idStation", in.IDStation, "noticeNumber", in.QrCode.NoticeNumber}
	e, f := s.identify(&in.Header)
	if f != nil {
		return nil, f, attrs
	}
	p, o, f := s.payable(ctx, e, &in.QrCode)
	if f != nil {
		return nil, f, attrs
	}
	if in.Amount != "" {
		if want, err := amount.ParseSOAP(in.Amount); err == nil && want != o.Amount {
			s.log.Warn("paForNode: amount requested by the PSP differs from the position's", "idPA", e.FiscalCode,
				"noticeNumber", o.NoticeNumber, "requested", in.Amount, "due", amount.Format(o.Amount))
		}
	}
	if in.TransferType == "POSTAL" && len(o.Transfers) > 0 && !iban.IsPostal(o.Transfers[0].IBAN) {
		s.log.Warn("paForNode: POSTAL transfer requested but the first transfer is not a postal account", "idPA", e.FiscalCode, "noticeNumber", o.NoticeNumber)
	}
	data, f := paymentData(e, p, o, v2)
	if f != nil {
		return nil, f, attrs
	}
	op := pafornode.OpGetPayment
	if v2 {
		op = pafornode.OpGetPaymentV2
	}
	return &pafornode.GetPaymentResponse{
		XMLName:  pafornode.Name(pafornode.ResponseElement[op]),
		Response: pafornode.Response{Outcome: "OK"},
		Data:     data,
	}, nil, append(attrs, "amount", data.PaymentAmount, "iuv", data.CreditorReferenceID)
}

// paymentData is ctPaymentPA (V1) or ctPaymentPAV2 of an option.
func paymentData(e *pagopa.Ente, p *position.Position, o *position.Option, v2 bool) (*pafornode.PaymentData, *Fault) {
	d := &pafornode.PaymentData{
		CreditorReferenceID: o.IUV,
		PaymentAmount:       amount.Format(o.Amount),
		DueDate:             o.DueDate.String(),
		Description:         o.Description,
		CompanyName:         p.CompanyName,
		OfficeName:          p.OfficeName,
		Debtor:              subject(&p.Debtor),
		Metadata:            metadata(append(append([]position.MapEntry(nil), p.Metadata...), o.Metadata...)),
	}
	for _, t := range o.Transfers {
		tr := pafornode.Transfer{
			IDTransfer:            t.ID,
			TransferAmount:        amount.Format(t.Amount),
			FiscalCodePA:          t.Beneficiary,
			IBAN:                  t.IBAN,
			RemittanceInformation: t.Remittance,
			TransferCategory:      t.Category,
			Metadata:              metadata(t.Metadata),
		}
		if v2 {
			tr.CompanyName = t.CompanyName
		}
		if t.Stamp != nil {
			if !v2 {
				return nil, fault(PaaSemantica, e.FiscalCode, "l'avviso %s comprende una marca da bollo digitale: serve paGetPaymentV2, configurare la stazione con le primitive V2 (a digital stamp needs paGetPaymentV2)", o.NoticeNumber)
			}
			tr.RichiestaMarcaDaBollo = &pafornode.MarcaDaBollo{HashDocumento: t.Stamp.HashDocument, TipoBollo: t.Stamp.Type, ProvinciaResidenza: t.Stamp.Province}
		}
		d.Transfers = append(d.Transfers, tr)
	}
	return d, nil
}

func subject(d *position.Debtor) pafornode.Subject {
	return pafornode.Subject{
		UniqueIdentifier:    pafornode.UniqueIdentifier{Type: d.Type, Value: d.ID},
		FullName:            d.Name,
		StreetName:          d.Street,
		CivicNumber:         d.Civic,
		PostalCode:          d.PostalCode,
		City:                d.City,
		StateProvinceRegion: d.Province,
		Country:             d.Country,
		Email:               d.Email,
	}
}

// metadata converts entries, keeping the schema's maximum of 15 (later entries, the
// option's, win over the position's when the two together exceed it).
func metadata(m []position.MapEntry) *pafornode.Metadata {
	if len(m) == 0 {
		return nil
	}
	if len(m) > position.MaxMetadata {
		m = m[len(m)-position.MaxMetadata:]
	}
	out := &pafornode.Metadata{}
	for _, e := range m {
		out.Entries = append(out.Entries, pafornode.MapEntry{Key: e.Key, Value: e.Value})
	}
	return out
}

func (s *Server) sendRT(ctx context.Context, req *soap.Request, op string) (any, *Fault, []any) {
	var in pafornode.SendRTRequest
	raw := rawBody(ctx)
	f := s.decode(req, &in)
	attrs := []any{"idPA", in.IDPA, "idStation", in.IDStation, "receiptId", in.Receipt.ReceiptID, "noticeNumber", in.Receipt.NoticeNumber}
	var e *pagopa.Ente
	if f == nil {
		e, f = s.identify(&in.Header)
	}
	if f != nil {
		s.quarantine(ctx, op, &in.Header, f, raw)
		return nil, f, attrs
	}
	rc := &in.Receipt
	paid, _ := amount.ParseSOAP(rc.PaymentAmount) // Check verified the format
	var sum int64
	for _, t := range rc.Transfers {
		v, _ := amount.ParseSOAP(t.TransferAmount)
		sum += v
	}
	res, err := s.db.RecordReceipt(ctx, &posdb.Receipt{
		IDPA: e.FiscalCode, Station: in.IDStation, ReceiptID: rc.ReceiptID, FiscalCode: rc.FiscalCode,
		NoticeNumber: rc.NoticeNumber, CreditorReferenceID: rc.CreditorReferenceID, Amount: paid, TransfersAmount: sum,
		Outcome: rc.Outcome, IDPSP: rc.IDPSP, PaymentDateTime: rc.PaymentDateTime, Primitive: op, Raw: raw,
	})
	switch {
	case errors.Is(err, posdb.ErrReceiptConflict):
		f = fault(PaaReceiptDuplicata, e.FiscalCode, "%v", err)
		s.quarantine(ctx, op, &in.Header, f, raw)
		return nil, f, attrs
	case err != nil:
		s.log.Error("paForNode: record receipt", "idPA", e.FiscalCode, "receiptId", rc.ReceiptID, "err", err)
		return nil, fault(PaaSystemError, e.FiscalCode, "errore interno nella registrazione della ricevuta: riprovare (internal error recording the receipt: retry)"), attrs
	}
	attrs = append(attrs, "duplicate", res.Duplicate, "anomalies", res.Receipt.Anomalies)
	if len(res.Receipt.Anomalies) > 0 && !res.Duplicate {
		s.log.Warn("paForNode: receipt recorded with anomalies: an operator must review it", "idPA", e.FiscalCode,
			"receiptId", rc.ReceiptID, "noticeNumber", rc.NoticeNumber, "anomalies", res.Receipt.Anomalies)
	}
	return &pafornode.SendRTResponse{XMLName: pafornode.Name(pafornode.ResponseElement[op]), Response: pafornode.Response{Outcome: "OK"}}, nil, attrs
}

// quarantine keeps a refused receipt; if even that fails the error is logged with the
// receipt, and the Node, answered KO, will send it again.
func (s *Server) quarantine(ctx context.Context, op string, h *pafornode.Header, f *Fault, raw []byte) {
	q := &posdb.Quarantined{Operation: op, IDPA: h.IDPA, IDBroker: h.IDBrokerPA, IDStation: h.IDStation, FaultCode: f.Code, Reason: f.Description, Raw: raw}
	if err := s.db.Quarantine(ctx, q); err != nil {
		s.log.Error("paForNode: quarantine failed", "op", op, "idPA", h.IDPA, "faultCode", f.Code, "err", err, "request", string(raw))
		return
	}
	s.log.Warn("paForNode: request quarantined for an operator", "op", op, "idPA", h.IDPA, "idStation", h.IDStation, "faultCode", f.Code, "quarantineId", q.ID)
}

func (s *Server) demandNotice(ctx context.Context, req *soap.Request) (any, *Fault, []any) {
	var in pafornode.DemandRequest
	if f := s.decode(req, &in); f != nil {
		return nil, f, nil
	}
	attrs := []any{"idPA", in.IDPA, "idStation", in.IDStation, "idServizio", in.IDServizio}
	e, f := s.identify(&in.Header)
	if f != nil {
		return nil, f, attrs
	}
	if s.demand == nil {
		return nil, fault(PaaSemantica, e.FiscalCode, "pagamenti spontanei (paDemandPaymentNotice) non attivi per l'ente %s, servizio %s (spontaneous payments not enabled)", e.FiscalCode, in.IDServizio), attrs
	}
	p, err := s.demand.Demand(ctx, e, &in)
	if err != nil {
		var df *Fault
		if errors.As(err, &df) {
			if df.ID == "" {
				df.ID = e.FiscalCode
			}
			return nil, df, attrs
		}
		s.log.Error("paForNode: demand handler", "idPA", e.FiscalCode, "idServizio", in.IDServizio, "err", err)
		return nil, fault(PaaSystemError, e.FiscalCode, "errore interno: riprovare (internal error: retry)"), attrs
	}
	if _, err := s.db.Create(ctx, e, p); err != nil {
		var ve *position.ValidationError
		if errors.As(err, &ve) || errors.Is(err, posdb.ErrExists) || errors.Is(err, posdb.ErrNoticeTaken) {
			return nil, fault(PaaSemantica, e.FiscalCode, "%v", err), attrs
		}
		s.log.Error("paForNode: store demanded position", "idPA", e.FiscalCode, "err", err)
		return nil, fault(PaaSystemError, e.FiscalCode, "errore interno: riprovare (internal error: retry)"), attrs
	}
	o := &p.Options[0]
	return &pafornode.DemandResponse{
		XMLName:            pafornode.Name(pafornode.ResponseElement[pafornode.OpDemand]),
		Response:           pafornode.Response{Outcome: "OK"},
		QrCode:             &pafornode.QrCode{FiscalCode: e.FiscalCode, NoticeNumber: o.NoticeNumber},
		PaymentList:        &pafornode.PaymentList{Options: []pafornode.PaymentOptionDescription{optionDescription(o)}},
		PaymentDescription: p.Description,
		FiscalCodePA:       e.FiscalCode,
		CompanyName:        p.CompanyName,
		OfficeName:         p.OfficeName,
	}, nil, append(attrs, "noticeNumber", o.NoticeNumber)
}
