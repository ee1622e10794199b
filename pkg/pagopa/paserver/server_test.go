package paserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/pafornode"
	"snodo/pkg/pagopa/paserver"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/soap"
	"snodo/pkg/store"
	"snodo/pkg/xsd"
	pagopaxsd "snodo/xsd/pagopa"
)

var (
	schemaOnce sync.Once
	schema     *xsd.Schema
	schemaErr  error
)

// validateResponse checks the paForNode element of a response envelope against the
// official schema.
func validateResponse(t *testing.T, envelope []byte) {
	t.Helper()
	schemaOnce.Do(func() { schema, schemaErr = xsd.Compile(pagopaxsd.Tree(), pagopaxsd.TreePaForNode) })
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	s := string(envelope)
	i, j := strings.Index(s, "<soap:Body>"), strings.LastIndex(s, "</soap:Body>")
	if i < 0 || j < i {
		t.Fatalf("no soap:Body in %s", s)
	}
	if err := schema.Validate("risposta", []byte(s[i+len("<soap:Body>"):j]), 20); err != nil {
		t.Fatalf("response does not validate against paForNode.xsd: %v\n%s", err, s)
	}
}

type hub struct {
	url   string
	db    *posdb.DB
	cfg   *pagopa.Config
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func newHub(t *testing.T, d store.Dialect, o paserver.Options) *hub {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	db := posdbtest.Open(t, d, posdb.Options{Now: clk.now})
	cfg := posdbtest.Config()
	srv, err := paserver.New(cfg, db, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &hub{url: ts.URL, db: db, cfg: cfg, clock: clk}
}

// post sends a raw SOAP request and returns status and body, validating paForNode
// responses against the schema.
func (h *hub) post(t *testing.T, action string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if action != "" {
		req.Header.Set("SOAPAction", `"`+action+`"`)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		validateResponse(t, out)
	}
	return resp.StatusCode, out
}

// call sends a typed request with the pkg/soap client and decodes the response.
func (h *hub) call(t *testing.T, op string, req, resp any) {
	t.Helper()
	c := &soap.Client{}
	_, body, err := soap.Marshal(soap.V11, req, false)
	if err != nil {
		t.Fatal(err)
	}
	status, out := h.post(t, op, body)
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", op, status, out)
	}
	m, err := soap.Parse("risposta", "text/xml", out)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Decode(resp); err != nil {
		t.Fatal(err)
	}
	_ = c
}

func readSample(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("../../../testdata/pagopa/soap/mock-ec", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mockECPosition(notice string, cents int64) *position.Position {
	p := posdbtest.Position("MOCK-"+notice, cents)
	p.Options[0].NoticeNumber = notice
	p.Options[0].Transfers[0].IBAN = "IT45R0760103200000000001016"
	return p
}

// TestMockECSamples answers every request sample of pagopa-mock-ec.
func TestMockECSamples(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			h := newHub(t, d, paserver.Options{})
			e := h.cfg.Ente("77777777777")
			posdbtest.MustCreate(t, h.db, e, mockECPosition("302009921337126000", 12000))
			posdbtest.MustCreate(t, h.db, e, mockECPosition("311018351493172600", 1000))

			// Verify (its body element is in the nodeForPsp namespace upstream; sent without SOAPAction).
			status, out := h.post(t, "", readSample(t, "paVerifyPaymentNoticeReq_avv1.xml"))
			if status != 200 || !bytes.Contains(out, []byte("<outcome>OK</outcome>")) || !bytes.Contains(out, []byte("<amount>120.00</amount>")) ||
				!bytes.Contains(out, []byte("<allCCP>true</allCCP>")) {
				t.Fatalf("verify: %d %s", status, out)
			}
			status, out = h.post(t, "paGetPayment", readSample(t, "paGetPaymentReq_avv1.xml"))
			if status != 200 || !bytes.Contains(out, []byte("<creditorReferenceId>02009921337126000</creditorReferenceId>")) ||
				!bytes.Contains(out, []byte("<paymentAmount>120.00</paymentAmount>")) {
				t.Fatalf("getPayment: %d %s", status, out)
			}
			if p, _ := h.db.ByNotice(context.Background(), e.FiscalCode, "302009921337126000"); p.State != position.StateValid || p.Version != 1 {
				t.Fatalf("verify/getPayment changed the position: %s v%d", p.State, p.Version)
			}
			for i := 0; i < 2; i++ { // the second time is a duplicate: still OK
				status, out = h.post(t, "paSendRT", readSample(t, "paSendRTReq_avv4.xml"))
				if status != 200 || !bytes.Contains(out, []byte("<outcome>OK</outcome>")) {
					t.Fatalf("sendRT #%d: %d %s", i, status, out)
				}
			}
			p, _ := h.db.ByNotice(context.Background(), e.FiscalCode, "311018351493172600")
			if p.State != position.StatePaid || p.Options[0].ReceiptID != "f43cf6263ddb47248222b039f6d1f1f5" {
				t.Fatalf("receipt did not pay the position: %+v", p)
			}
			rs, _ := h.db.Receipts(context.Background(), posdb.ReceiptFilter{IDPA: e.FiscalCode})
			if len(rs) != 1 || !bytes.Equal(rs[0].Raw, readSample(t, "paSendRTReq_avv4.xml")) || strings.Join(rs[0].Anomalies, ",") != posdb.AnomalyIUV {
				t.Fatalf("receipts: %d %+v", len(rs), rs)
			}
			// The PSP-side verifyPaymentNoticeReq is not a paForNode operation.
			status, out = h.post(t, "", readSample(t, "verifyPaymentNoticeReq.xml"))
			if status != 500 || !bytes.Contains(out, []byte("operazione sconosciuta")) {
				t.Fatalf("PSP request: %d %s", status, out)
			}
		})
	}
}

func hdr(pa, broker, station string) pafornode.Header {
	return pafornode.Header{IDPA: pa, IDBrokerPA: broker, IDStation: station}
}

func verifyReq(h pafornode.Header, pa, notice string) *pafornode.VerifyRequest {
	return &pafornode.VerifyRequest{XMLName: pafornode.Name("paVerifyPaymentNoticeReq"), Header: h, QrCode: pafornode.QrCode{FiscalCode: pa, NoticeNumber: notice}}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	h := newHub(t, store.SQLite, paserver.Options{})
	e := h.cfg.Ente("01234567897")
	good := hdr(e.FiscalCode, "77777777777", "77777777777_01")
	valid := posdbtest.MustCreate(t, h.db, e, posdbtest.Position("VALID", 4500)).Options[0].NoticeNumber
	cancelled := posdbtest.MustCreate(t, h.db, e, posdbtest.Position("CANC", 100)).Options[0].NoticeNumber
	if _, err := h.db.Cancel(ctx, e.FiscalCode, "CANC", 0); err != nil {
		t.Fatal(err)
	}
	exp := posdbtest.Position("EXP", 100)
	d := position.NewDate(2026, 11, 24)
	exp.ExpiryDate = &d
	expired := posdbtest.MustCreate(t, h.db, e, exp).Options[0].NoticeNumber
	paidPos := posdbtest.MustCreate(t, h.db, e, posdbtest.Position("PAID", 100))
	paid := paidPos.Options[0].NoticeNumber
	if _, err := h.db.RecordReceipt(ctx, &posdb.Receipt{IDPA: e.FiscalCode, ReceiptID: "t1", FiscalCode: e.FiscalCode, NoticeNumber: paid,
		CreditorReferenceID: paidPos.Options[0].IUV, Amount: 100, TransfersAmount: 100, Outcome: "OK", Primitive: "paSendRT", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	stamp := posdbtest.Position("STAMP", 1600)
	stamp.Options[0].Transfers[0].IBAN = ""
	stamp.Options[0].Transfers[0].Stamp = &position.Stamp{HashDocument: "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", Type: "01", Province: "FI"}
	stampNotice := posdbtest.MustCreate(t, h.db, e, stamp).Options[0].NoticeNumber

	tests := []struct {
		name   string
		header pafornode.Header
		notice string
		code   string
	}{
		{"ok", good, valid, ""},
		{"unknown notice", good, "301999999999999945", paserver.PaaPagamentoSconosciuto},
		{"cancelled", good, cancelled, paserver.PaaPagamentoAnnullato},
		{"expired", good, expired, paserver.PaaPagamentoScaduto},
		{"paid", good, paid, paserver.PaaPagamentoDuplicato},
		{"wrong broker", hdr(e.FiscalCode, "99999999999", "77777777777_01"), valid, paserver.PaaIDIntermediarioErrato},
		{"unknown station", hdr(e.FiscalCode, "77777777777", "77777777777_99"), valid, paserver.PaaStazioneIntErrata},
		{"ente not on station", hdr(e.FiscalCode, "77777777777", "77777777777_02"), valid, paserver.PaaStazioneIntErrata},
		{"unknown ente", hdr("00000000000", "77777777777", "77777777777_01"), valid, paserver.PaaIDDominioErrato},
		{"bad notice syntax", good, "12345", paserver.PaaSintassiXSD},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v pafornode.VerifyResponse
			h.call(t, "paVerifyPaymentNotice", verifyReq(tc.header, tc.header.IDPA, tc.notice), &v)
			var g pafornode.GetPaymentResponse
			h.call(t, "paGetPaymentV2", &pafornode.GetPaymentRequest{XMLName: pafornode.Name("paGetPaymentV2Request"), Header: tc.header,
				QrCode: pafornode.QrCode{FiscalCode: tc.header.IDPA, NoticeNumber: tc.notice}}, &g)
			for _, r := range []pafornode.Response{v.Response, g.Response} {
				if tc.code == "" {
					if r.Outcome != "OK" || r.Fault != nil {
						t.Fatalf("want OK, got %+v", r.Fault)
					}
					continue
				}
				if r.Outcome != "KO" || r.Fault == nil || r.Fault.FaultCode != tc.code || r.Fault.FaultString == "" || r.Fault.ID == "" || r.Fault.Description == "" {
					t.Fatalf("want %s, got %s %+v", tc.code, r.Outcome, r.Fault)
				}
			}
			if tc.code == "" {
				if v.PaymentList.Options[0].Amount != "45.00" || v.CompanyName != e.Name || g.Data.PaymentAmount != "45.00" ||
					g.Data.Debtor.UniqueIdentifier.Value != "RSSMRA30A01H501I" || len(g.Data.Transfers) != 1 || g.Data.DueDate != "2099-12-31" {
					t.Fatalf("OK answers: %+v %+v", v, g.Data)
				}
			}
		})
	}

	// A stamp needs V2: V1 answers PAA_SEMANTICA, V2 carries richiestaMarcaDaBollo.
	var g1, g2 pafornode.GetPaymentResponse
	h.call(t, "paGetPayment", &pafornode.GetPaymentRequest{XMLName: pafornode.Name("paGetPaymentReq"), Header: good,
		QrCode: pafornode.QrCode{FiscalCode: e.FiscalCode, NoticeNumber: stampNotice}}, &g1)
	h.call(t, "paGetPaymentV2", &pafornode.GetPaymentRequest{XMLName: pafornode.Name("paGetPaymentV2Request"), Header: good,
		QrCode: pafornode.QrCode{FiscalCode: e.FiscalCode, NoticeNumber: stampNotice}}, &g2)
	if g1.Fault == nil || g1.Fault.FaultCode != paserver.PaaSemantica || g2.Outcome != "OK" || g2.Data.Transfers[0].RichiestaMarcaDaBollo == nil {
		t.Fatalf("stamp: V1 %+v, V2 %+v", g1.Fault, g2.Data)
	}

	// Demand without a handler.
	var dr pafornode.DemandResponse
	h.call(t, "paDemandPaymentNotice", &pafornode.DemandRequest{XMLName: pafornode.Name("paDemandPaymentNoticeRequest"), Header: good,
		IDServizio: "00001", IDSoggettoServizio: "00001", DatiSpecificiServizioRequest: "PGEvPg=="}, &dr)
	if dr.Fault == nil || dr.Fault.FaultCode != paserver.PaaSemantica {
		t.Fatalf("demand: %+v", dr.Fault)
	}
}

func receiptReq(op string, hd pafornode.Header, id, notice, iuvCode, amount string) *pafornode.SendRTRequest {
	el := "paSendRTReq"
	if op == "paSendRTV2" {
		el = "paSendRTV2Request"
	}
	return &pafornode.SendRTRequest{XMLName: pafornode.Name(el), Header: hd, Receipt: pafornode.Receipt{
		ReceiptID: id, NoticeNumber: notice, FiscalCode: hd.IDPA, Outcome: "OK", CreditorReferenceID: iuvCode, PaymentAmount: amount,
		Description: "x", CompanyName: "y", Debtor: pafornode.Subject{UniqueIdentifier: pafornode.UniqueIdentifier{Type: "F", Value: "ANONIMO"}, FullName: "Anonimo"},
		Transfers: []pafornode.ReceiptTransfer{{IDTransfer: "1", TransferAmount: amount, FiscalCodePA: hd.IDPA, IBAN: "IT60X0542811101000000123456",
			RemittanceInformation: "x", TransferCategory: "9/X"}},
		IDPSP: "PSP1", PSPCompanyName: "Banca", IDChannel: "PSP1_01", ChannelDescription: "app",
	}}
}

func TestReceiptsRefusedAreQuarantined(t *testing.T) {
	ctx := context.Background()
	h := newHub(t, store.SQLite, paserver.Options{})
	e := h.cfg.Ente("01234567897")
	p := posdbtest.MustCreate(t, h.db, e, posdbtest.Position("RT", 2000))
	o := p.Options[0]
	var r pafornode.SendRTResponse
	// The station the ente is not on: refused per spec, kept for an operator.
	h.call(t, "paSendRTV2", receiptReq("paSendRTV2", hdr(e.FiscalCode, "77777777777", "77777777777_02"), "tok-A", o.NoticeNumber, o.IUV, "20.00"), &r)
	if r.Fault == nil || r.Fault.FaultCode != paserver.PaaStazioneIntErrata {
		t.Fatalf("wrong station: %+v", r.Fault)
	}
	// Schema violation (no transfers).
	bad := receiptReq("paSendRT", hdr(e.FiscalCode, "77777777777", "77777777777_01"), "tok-B", o.NoticeNumber, o.IUV, "20.00")
	bad.Receipt.Transfers = nil
	h.call(t, "paSendRT", bad, &r)
	if r.Fault == nil || r.Fault.FaultCode != paserver.PaaSintassiXSD || !strings.Contains(r.Fault.Description, "transferList") {
		t.Fatalf("syntax: %+v", r.Fault)
	}
	// Accepted, then the same receiptId with another amount.
	good := hdr(e.FiscalCode, "77777777777", "77777777777_01")
	h.call(t, "paSendRTV2", receiptReq("paSendRTV2", good, "tok-C", o.NoticeNumber, o.IUV, "20.00"), &r)
	if r.Outcome != "OK" {
		t.Fatalf("good receipt: %+v", r.Fault)
	}
	h.call(t, "paSendRTV2", receiptReq("paSendRTV2", good, "tok-C", o.NoticeNumber, o.IUV, "21.00"), &r)
	if r.Fault == nil || r.Fault.FaultCode != paserver.PaaReceiptDuplicata {
		t.Fatalf("conflict: %+v", r.Fault)
	}
	q, err := h.db.QuarantineList(ctx, 0, 10)
	if err != nil || len(q) != 3 {
		t.Fatalf("quarantine: %d %v", len(q), err)
	}
	want := []string{paserver.PaaStazioneIntErrata, paserver.PaaSintassiXSD, paserver.PaaReceiptDuplicata}
	for i, w := range want {
		if q[i].FaultCode != w || !bytes.Contains(q[i].Raw, []byte("<receiptId>")) {
			t.Fatalf("quarantine[%d] = %s %q", i, q[i].FaultCode, q[i].Raw)
		}
	}
	if got, _ := h.db.Get(ctx, e.FiscalCode, "RT"); got.State != position.StatePaid {
		t.Fatal(got.State)
	}
}

// TestLenient accepts elements the schema does not (yet) know: the Node added optional
// elements before and a peer broke (GovPay #860).
func TestLenient(t *testing.T) {
	h := newHub(t, store.SQLite, paserver.Options{})
	e := h.cfg.Ente("01234567897")
	p := posdbtest.MustCreate(t, h.db, e, posdbtest.Position("LEN", 1000))
	o := p.Options[0]
	body := []byte(`<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd">
<soapenv:Header><x:trace xmlns:x="urn:x">1</x:trace></soapenv:Header><soapenv:Body><pafn:paSendRTV2Request>
<idPA>01234567897</idPA><idBrokerPA>77777777777</idBrokerPA><idStation>77777777777_01</idStation><futureElement>z</futureElement>
<receipt><receiptId>tok-L</receiptId><noticeNumber>` + o.NoticeNumber + `</noticeNumber><fiscalCode>01234567897</fiscalCode><outcome>OK</outcome>
<creditorReferenceId>` + o.IUV + `</creditorReferenceId><paymentAmount>10.00</paymentAmount><description>d</description><companyName>c</companyName>
<debtor><uniqueIdentifier><entityUniqueIdentifierType>F</entityUniqueIdentifierType><entityUniqueIdentifierValue>RSSMRA30A01H501I</entityUniqueIdentifierValue></uniqueIdentifier><fullName>M</fullName></debtor>
<transferList><transfer><idTransfer>1</idTransfer><transferAmount>10.00</transferAmount><fiscalCodePA>01234567897</fiscalCodePA><companyName>c</companyName>
<IBAN>IT60X0542811101000000123456</IBAN><remittanceInformation>r</remittanceInformation><transferCategory>9/X</transferCategory><newTransferField>q</newTransferField></transfer></transferList>
<idPSP>P</idPSP><PSPCompanyName>B</PSPCompanyName><idChannel>C</idChannel><channelDescription>app</channelDescription>
<paymentNote>nota</paymentNote><idBundle>b</idBundle><standIn>false</standIn><brandNewOptional>yes</brandNewOptional></receipt>
</pafn:paSendRTV2Request></soapenv:Body></soapenv:Envelope>`)
	status, out := h.post(t, "paSendRTV2", body)
	if status != 200 || !bytes.Contains(out, []byte("<outcome>OK</outcome>")) {
		t.Fatalf("%d %s", status, out)
	}
}

func TestHostileRequests(t *testing.T) {
	h := newHub(t, store.SQLite, paserver.Options{MaxBodyBytes: 64 << 10})
	tests := []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"doctype", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>`), 500, "DOCTYPE"},
		{"not xml", []byte("hello"), 500, "XML"},
		{"empty", nil, 500, "vuoto"},
		{"oversize", bytes.Repeat([]byte("a"), 70<<10), 413, "limite"},
		{"unknown op", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x:hack xmlns:x="urn:x"/></s:Body></s:Envelope>`), 500, "sconosciuta"},
		{"broken body", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:paVerifyPaymentNoticeReq xmlns:p="` + pafornode.NS + `"><idPA>1</idP></p:paVerifyPaymentNoticeReq></s:Body></s:Envelope>`), 200, "PAA_SINTASSI_XSD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := h.post(t, "", tc.body)
			if status != tc.status || !bytes.Contains(out, []byte(tc.want)) {
				t.Fatalf("%d %s", status, out)
			}
		})
	}
	resp, err := http.Get(h.url)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
}

type demandFunc func(ctx context.Context, e *pagopa.Ente, req *pafornode.DemandRequest) (*position.Position, error)

func (f demandFunc) Demand(ctx context.Context, e *pagopa.Ente, req *pafornode.DemandRequest) (*position.Position, error) {
	return f(ctx, e, req)
}

func TestDemand(t *testing.T) {
	h := newHub(t, store.SQLite, paserver.Options{Demand: demandFunc(func(ctx context.Context, e *pagopa.Ente, req *pafornode.DemandRequest) (*position.Position, error) {
		if req.IDServizio != "00042" {
			return nil, &paserver.Fault{Code: paserver.PaaPagamentoSconosciuto, Description: "servizio sconosciuto"}
		}
		return posdbtest.Position("SPONT-"+req.IDSoggettoServizio, 1600), nil
	})})
	good := hdr("01234567897", "77777777777", "77777777777_01")
	var dr pafornode.DemandResponse
	h.call(t, "paDemandPaymentNotice", &pafornode.DemandRequest{XMLName: pafornode.Name("paDemandPaymentNoticeRequest"), Header: good,
		IDServizio: "00042", IDSoggettoServizio: "00007", DatiSpecificiServizioRequest: "PGEvPg=="}, &dr)
	if dr.Outcome != "OK" || dr.QrCode == nil || len(dr.QrCode.NoticeNumber) != 18 || dr.PaymentList.Options[0].Amount != "16.00" {
		t.Fatalf("demand: %+v %+v", dr, dr.Fault)
	}
	p, err := h.db.ByNotice(context.Background(), "01234567897", dr.QrCode.NoticeNumber)
	if err != nil || p.IUPD != "SPONT-00007" {
		t.Fatal(p, err)
	}
	h.call(t, "paDemandPaymentNotice", &pafornode.DemandRequest{XMLName: pafornode.Name("paDemandPaymentNoticeRequest"), Header: good,
		IDServizio: "00001", IDSoggettoServizio: "00007", DatiSpecificiServizioRequest: "PGEvPg=="}, &dr)
	if dr.Fault == nil || dr.Fault.FaultCode != paserver.PaaPagamentoSconosciuto || dr.Fault.ID != "01234567897" {
		t.Fatalf("demand fault: %+v", dr.Fault)
	}
}
