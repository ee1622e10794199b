// Package nodesim simulates the pagoPA Node towards a creditor's intermediary: it plays a
// PSP payment of a notice through paVerifyPaymentNotice → paGetPayment(V2) →
// paSendRT(V2) against a paForNode endpoint (the hub's, or any other), the way the Node
// does it: with its timeouts (7 s, 7 s, 15 s), its checks on the answers (schema,
// Σ transfers = amount, IBAN syntax), and the retries of a receipt the station did not
// acknowledge. It can also send a receipt twice, to check idempotency.
//
// Each exchange is reported as a Step with the code the Node would give the PSP:
// outcome OK, a PAA_* fault of the station, or PPT_STAZIONE_INT_PA_TIMEOUT,
// PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE, PPT_STAZIONE_INT_PA_ERRORE_RESPONSE.
//
// Used by the hub's tests in-process and by integrators through `snodo pagopa-sim`.
package nodesim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/pafornode"
	"snodo/pkg/soap"
)

// Codes the Node gives the PSP when the station fails.
const (
	PPTTimeout         = "PPT_STAZIONE_INT_PA_TIMEOUT"
	PPTIrraggiungibile = "PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE"
	PPTErroreResponse  = "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE"
)

// Config says which station to call and how the simulated Node behaves.
type Config struct {
	HubURL     string // the paForNode endpoint, e.g. https://hub.example/pagopa/paForNode
	IDBrokerPA string
	IDStation  string
	// Version of the primitives configured for the station: 1 (paGetPayment, paSendRT) or
	// 2 (paGetPaymentV2, paSendRTV2). Default 2.
	Version int
	// HTTP is the transport (TLS client certificates and so on); http.DefaultClient when nil.
	HTTP *http.Client
	// Timeouts of the Node (defaults 7 s, 7 s, 15 s per SANP).
	VerifyTimeout, GetPaymentTimeout, SendRTTimeout time.Duration
	// SendRTAttempts is how many times a receipt is sent before giving up (default 5);
	// RetryBackoff the pause before the first retry, doubled each time (default 2 s).
	SendRTAttempts int
	RetryBackoff   time.Duration
	// PSP plays the paying side.
	PSP    PSP
	Logger *slog.Logger
}

// PSP is the payment service provider named in receipts.
type PSP struct {
	ID, FiscalCode, CompanyName, Channel, ChannelDescription, PaymentMethod string
	Fee                                                                     string // "1.00"
}

// Sim is a simulated Node.
type Sim struct {
	cfg    Config
	client *soap.Client
	log    *slog.Logger
}

// New returns a simulator; cfg needs HubURL, IDBrokerPA and IDStation.
func New(cfg Config) (*Sim, error) {
	if cfg.HubURL == "" || cfg.IDBrokerPA == "" || cfg.IDStation == "" {
		return nil, errors.New("nodesim: indicare URL dell'hub, idBrokerPA e idStation (hub URL, idBrokerPA and idStation are required)")
	}
	if cfg.Version == 0 {
		cfg.Version = 2
	}
	if cfg.Version != 1 && cfg.Version != 2 {
		return nil, fmt.Errorf("nodesim: versione primitive %d: usare 1 o 2 (primitive version must be 1 or 2)", cfg.Version)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.VerifyTimeout, 7*time.Second)
	def(&cfg.GetPaymentTimeout, 7*time.Second)
	def(&cfg.SendRTTimeout, 15*time.Second)
	def(&cfg.RetryBackoff, 2*time.Second)
	if cfg.SendRTAttempts <= 0 {
		cfg.SendRTAttempts = 5
	}
	if cfg.PSP.ID == "" {
		cfg.PSP = PSP{ID: "SNODOSIMPSP", FiscalCode: "00000000000", CompanyName: "PSP simulato snodo", Channel: "SNODOSIMPSP_01",
			ChannelDescription: "app", PaymentMethod: "creditCard", Fee: "1.00"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sim{cfg: cfg, client: &soap.Client{HTTP: cfg.HTTP, MaxResponseBytes: 1 << 20, UserAgent: "snodo-pagopa-sim"}, log: cfg.Logger}, nil
}

// Step is one exchange with the station.
type Step struct {
	Op        string        `json:"op"`
	Attempt   int           `json:"attempt"`
	Outcome   string        `json:"outcome"`             // OK or KO
	FaultCode string        `json:"faultCode,omitempty"` // PAA_* from the station, or PPT_* when the station failed
	Detail    string        `json:"detail,omitempty"`
	Elapsed   time.Duration `json:"elapsed"`
}

func (s Step) String() string {
	r := fmt.Sprintf("%-22s #%d %s", s.Op, s.Attempt, s.Outcome)
	if s.FaultCode != "" {
		r += " " + s.FaultCode
	}
	if s.Detail != "" {
		r += ": " + s.Detail
	}
	return r + fmt.Sprintf(" (%s)", s.Elapsed.Round(time.Millisecond))
}

// call runs one exchange with the Node's timeout and classifies the result.
func (s *Sim) call(ctx context.Context, op string, timeout time.Duration, req any, resp interface{ response() *pafornode.Response }) Step {
	begin := time.Now()
	st := Step{Op: op}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.client.Call(cctx, s.cfg.HubURL, op, req, resp)
	st.Elapsed = time.Since(begin)
	var te *soap.TransportError
	switch {
	case err == nil:
	case errors.As(err, &te) && (errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil):
		st.Outcome, st.FaultCode, st.Detail = "KO", PPTTimeout, fmt.Sprintf("nessuna risposta entro %s (no answer within %s)", timeout, timeout)
		return st
	case errors.As(err, &te):
		st.Outcome, st.FaultCode, st.Detail = "KO", PPTIrraggiungibile, err.Error()
		return st
	default:
		st.Outcome, st.FaultCode, st.Detail = "KO", PPTErroreResponse, err.Error()
		return st
	}
	r := resp.response()
	switch r.Outcome {
	case "OK":
		st.Outcome = "OK"
	case "KO":
		st.Outcome = "KO"
		if r.Fault == nil {
			st.FaultCode, st.Detail = PPTErroreResponse, "esito KO senza faultBean (KO without faultBean)"
		} else {
			st.FaultCode, st.Detail = r.Fault.FaultCode, r.Fault.Description
		}
	default:
		st.Outcome, st.FaultCode, st.Detail = "KO", PPTErroreResponse, fmt.Sprintf("outcome %q", r.Outcome)
	}
	return st
}

type verifyResp struct{ pafornode.VerifyResponse }

func (v *verifyResp) response() *pafornode.Response { return &v.Response }

type getResp struct{ pafornode.GetPaymentResponse }

func (g *getResp) response() *pafornode.Response { return &g.Response }

type rtResp struct{ pafornode.SendRTResponse }

func (r *rtResp) response() *pafornode.Response { return &r.Response }

func (s *Sim) header(idPA string) pafornode.Header {
	return pafornode.Header{IDPA: idPA, IDBrokerPA: s.cfg.IDBrokerPA, IDStation: s.cfg.IDStation}
}

// Verify sends paVerifyPaymentNotice for the notice of creditor idPA.
func (s *Sim) Verify(ctx context.Context, idPA, notice string) (*pafornode.VerifyResponse, Step) {
	var resp verifyResp
	st := s.call(ctx, pafornode.OpVerify, s.cfg.VerifyTimeout, &pafornode.VerifyRequest{
		XMLName: pafornode.Name(pafornode.RequestElement[pafornode.OpVerify]), Header: s.header(idPA),
		QrCode: pafornode.QrCode{FiscalCode: idPA, NoticeNumber: notice}}, &resp)
	if st.Outcome == "OK" {
		if pl := resp.PaymentList; pl == nil || len(pl.Options) != 1 {
			st.Outcome, st.FaultCode, st.Detail = "KO", PPTErroreResponse, "paymentList assente o senza un'unica opzione (paymentList missing)"
		} else if _, err := amount.ParseSOAP(pl.Options[0].Amount); err != nil {
			st.Outcome, st.FaultCode, st.Detail = "KO", PPTErroreResponse, err.Error()
		}
	}
	return &resp.VerifyResponse, st
}

// GetPayment sends paGetPayment or paGetPaymentV2 (per Version) and checks the answer
// as the Node does.
func (s *Sim) GetPayment(ctx context.Context, idPA, notice, amountDue string) (*pafornode.GetPaymentResponse, Step) {
	op := pafornode.OpGetPaymentV2
	if s.cfg.Version == 1 {
		op = pafornode.OpGetPayment
	}
	var resp getResp
	st := s.call(ctx, op, s.cfg.GetPaymentTimeout, &pafornode.GetPaymentRequest{
		XMLName: pafornode.Name(pafornode.RequestElement[op]), Header: s.header(idPA),
		QrCode: pafornode.QrCode{FiscalCode: idPA, NoticeNumber: notice}, Amount: amountDue, TransferType: "PAGOPA"}, &resp)
	if st.Outcome == "OK" {
		if err := checkPaymentData(resp.Data); err != nil {
			st.Outcome, st.FaultCode, st.Detail = "KO", PPTErroreResponse, err.Error()
		}
	}
	return &resp.GetPaymentResponse, st
}

// checkPaymentData does the Node's semantic checks on a getPayment answer.
func checkPaymentData(d *pafornode.PaymentData) error {
	if d == nil {
		return errors.New("data assente (no payment data)")
	}
	total, err := amount.ParseSOAP(d.PaymentAmount)
	if err != nil {
		return err
	}
	if len(d.Transfers) == 0 || len(d.Transfers) > 5 {
		return fmt.Errorf("%d versamenti: servono da 1 a 5 (1 to 5 transfers)", len(d.Transfers))
	}
	var sum int64
	for _, t := range d.Transfers {
		v, err := amount.ParseSOAP(t.TransferAmount)
		if err != nil {
			return err
		}
		sum += v
		if t.RichiestaMarcaDaBollo == nil {
			if err := iban.Check(t.IBAN); err != nil {
				return fmt.Errorf("versamento %d: %v", t.IDTransfer, err)
			}
		}
	}
	if sum != total {
		return fmt.Errorf("somma dei versamenti %s diversa da paymentAmount %s (transfers do not sum to the amount)", amount.Format(sum), d.PaymentAmount)
	}
	return nil
}

// SendRT sends a receipt, retrying like the Node until the station answers OK or the
// attempts run out; it returns every attempt.
func (s *Sim) SendRT(ctx context.Context, req *pafornode.SendRTRequest) []Step {
	op := pafornode.OpSendRTV2
	if s.cfg.Version == 1 {
		op = pafornode.OpSendRT
	}
	req.XMLName = pafornode.Name(pafornode.RequestElement[op])
	var steps []Step
	backoff := s.cfg.RetryBackoff
	for attempt := 1; attempt <= s.cfg.SendRTAttempts; attempt++ {
		var resp rtResp
		st := s.call(ctx, op, s.cfg.SendRTTimeout, req, &resp)
		st.Attempt = attempt
		steps = append(steps, st)
		s.log.Info("nodesim: receipt sent", "step", st.String())
		if st.Outcome == "OK" || attempt == s.cfg.SendRTAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return steps
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	return steps
}

// Receipt builds the receipt the Node would send after a successful payment of the
// notice, from the station's getPayment answer.
func (s *Sim) Receipt(idPA, notice, receiptID string, d *pafornode.PaymentData, paidAt time.Time) *pafornode.SendRTRequest {
	rc := pafornode.Receipt{
		ReceiptID: receiptID, NoticeNumber: notice, FiscalCode: idPA, Outcome: "OK",
		CreditorReferenceID: d.CreditorReferenceID, PaymentAmount: d.PaymentAmount, Description: d.Description,
		CompanyName: d.CompanyName, OfficeName: d.OfficeName, Debtor: d.Debtor,
		IDPSP: s.cfg.PSP.ID, PSPFiscalCode: s.cfg.PSP.FiscalCode, PSPCompanyName: s.cfg.PSP.CompanyName,
		IDChannel: s.cfg.PSP.Channel, ChannelDescription: s.cfg.PSP.ChannelDescription, PaymentMethod: s.cfg.PSP.PaymentMethod,
		Fee: s.cfg.PSP.Fee, PaymentDateTime: paidAt.Format("2006-01-02T15:04:05"),
		ApplicationDate: paidAt.Format("2006-01-02"), TransferDate: paidAt.AddDate(0, 0, 1).Format("2006-01-02"),
		Metadata: d.Metadata,
	}
	if rc.CompanyName == "" {
		rc.CompanyName = "-"
	}
	for _, t := range d.Transfers {
		rt := pafornode.ReceiptTransfer{IDTransfer: fmt.Sprint(t.IDTransfer), TransferAmount: t.TransferAmount, FiscalCodePA: t.FiscalCodePA,
			IBAN: t.IBAN, RemittanceInformation: t.RemittanceInformation, TransferCategory: t.TransferCategory, Metadata: t.Metadata}
		if s.cfg.Version == 2 {
			rt.CompanyName = t.CompanyName
			if t.RichiestaMarcaDaBollo != nil {
				rt.MBDAttachment = "PE1hcmNhRGFCb2xsby8+" // a placeholder MarcaDaBollo document, base64
			}
		}
		rc.Transfers = append(rc.Transfers, rt)
	}
	return &pafornode.SendRTRequest{Header: s.header(idPA), Receipt: rc}
}

// PayOptions tune Pay.
type PayOptions struct {
	SkipVerify bool   // the PSP may skip the verify
	ReceiptID  string // the payment token; random when empty
	// Duplicate sends the receipt once more after it was acknowledged.
	Duplicate bool
	Now       time.Time // payment time; time.Now when zero
}

// Payment is the result of Pay.
type Payment struct {
	IDPA         string `json:"idPA"`
	NoticeNumber string `json:"noticeNumber"`
	Amount       string `json:"amount,omitempty"`
	IUV          string `json:"iuv,omitempty"`
	ReceiptID    string `json:"receiptId,omitempty"`
	// Fault is the code that stopped the payment (empty when the receipt was acknowledged).
	Fault string `json:"fault,omitempty"`
	// ReceiptAcknowledged is true when the station answered OK to a receipt.
	ReceiptAcknowledged bool   `json:"receiptAcknowledged"`
	Steps               []Step `json:"steps"`
}

// Pay plays a whole payment of the notice of creditor idPA.
func (s *Sim) Pay(ctx context.Context, idPA, notice string, o PayOptions) *Payment {
	p := &Payment{IDPA: idPA, NoticeNumber: notice, ReceiptID: o.ReceiptID}
	if p.ReceiptID == "" {
		p.ReceiptID = randomToken()
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if !o.SkipVerify {
		v, st := s.Verify(ctx, idPA, notice)
		st.Attempt = 1
		p.Steps = append(p.Steps, st)
		if st.Outcome != "OK" {
			p.Fault = st.FaultCode
			return p
		}
		p.Amount = v.PaymentList.Options[0].Amount
	}
	g, st := s.GetPayment(ctx, idPA, notice, p.Amount)
	st.Attempt = 1
	p.Steps = append(p.Steps, st)
	if st.Outcome != "OK" {
		p.Fault = st.FaultCode
		return p
	}
	p.Amount, p.IUV = g.Data.PaymentAmount, g.Data.CreditorReferenceID
	rt := s.Receipt(idPA, notice, p.ReceiptID, g.Data, o.Now)
	steps := s.SendRT(ctx, rt)
	p.Steps = append(p.Steps, steps...)
	last := steps[len(steps)-1]
	if last.Outcome != "OK" {
		p.Fault = last.FaultCode
		return p
	}
	p.ReceiptAcknowledged = true
	if o.Duplicate {
		dup := s.SendRT(ctx, rt)
		for i := range dup {
			dup[i].Op += " (duplicato)"
		}
		p.Steps = append(p.Steps, dup...)
		if l := dup[len(dup)-1]; l.Outcome != "OK" {
			p.Fault = l.FaultCode
		}
	}
	return p
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Summary is a short report of a payment, one line per step.
func (p *Payment) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "avviso %s dell'ente %s", p.NoticeNumber, p.IDPA)
	if p.Amount != "" {
		fmt.Fprintf(&b, ", importo %s", p.Amount)
	}
	if p.IUV != "" {
		fmt.Fprintf(&b, ", IUV %s", p.IUV)
	}
	b.WriteString("\n")
	for _, s := range p.Steps {
		b.WriteString("  " + s.String() + "\n")
	}
	switch {
	case p.ReceiptAcknowledged && p.Fault == "":
		fmt.Fprintf(&b, "esito: pagato, ricevuta %s accettata (paid, receipt acknowledged)\n", p.ReceiptID)
	case p.ReceiptAcknowledged:
		fmt.Fprintf(&b, "esito: pagato, ricevuta %s accettata; invio duplicato: %s\n", p.ReceiptID, p.Fault)
	default:
		fmt.Fprintf(&b, "esito: non pagato, %s (not paid)\n", p.Fault)
	}
	return b.String()
}
