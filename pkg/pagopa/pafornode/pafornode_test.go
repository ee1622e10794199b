package pafornode

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/soap"
	"snodo/pkg/xmlsafe"
)

const samples = "../../../testdata/pagopa/soap/mock-ec"

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, data []byte) *soap.Message {
	t.Helper()
	m, err := soap.Parse("test", "text/xml", data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseMockECSamples(t *testing.T) {
	m := parse(t, readSample(t, "paSendRTReq_avv4.xml"))
	if m.Body != Name("paSendRTReq") || OperationOf(m.Body.Local) != OpSendRT {
		t.Fatalf("body %v", m.Body)
	}
	var rt SendRTRequest
	if err := m.Decode(&rt); err != nil {
		t.Fatal(err)
	}
	if err := rt.Check(); err != nil {
		t.Fatal(err)
	}
	r := rt.Receipt
	if rt.IDStation != "77777777777_01" || r.ReceiptID != "f43cf6263ddb47248222b039f6d1f1f5" || r.PaymentAmount != "10.00" ||
		len(r.Transfers) != 1 || r.Transfers[0].IBAN != "IT45R0760103200000000001016" || r.Debtor.Email != "prova@test.it" ||
		r.Payer == nil || r.Metadata == nil || r.Metadata.Entries[0].Value != "22" || r.Fee != "2.00" {
		t.Fatalf("receipt %+v", r)
	}

	m = parse(t, readSample(t, "paVerifyPaymentNoticeReq_avv1.xml"))
	if m.Body.Local != "paVerifyPaymentNoticeReq" || m.Body.Space != NSNodeForPsp {
		t.Fatalf("verify body %v", m.Body)
	}
	var v VerifyRequest
	if err := m.Decode(&v); err != nil || v.Check() != nil || v.QrCode.NoticeNumber != "302009921337126000" {
		t.Fatalf("verify %+v, %v", v, err)
	}

	m = parse(t, readSample(t, "paGetPaymentReq_avv1.xml"))
	var g GetPaymentRequest
	if err := m.Decode(&g); err != nil || g.Check() != nil || g.Amount != "120.00" {
		t.Fatalf("getPayment %+v, %v", g, err)
	}
}

func TestCheckFindsMissing(t *testing.T) {
	var rt SendRTRequest
	err := rt.Check()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	for _, want := range []string{"idPA mancante", "receipt/noticeNumber mancante", "receipt/transferList vuota", "receipt/idPSP mancante"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	g := GetPaymentRequest{Header: Header{"1", "2", "3"}, QrCode: QrCode{"1234567890", "1"}, Amount: "10", TransferType: "X"}
	if err := g.Check(); err == nil || !strings.Contains(err.Error(), "11 cifre") || !strings.Contains(err.Error(), "transferType") {
		t.Fatal(err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	yes := true
	in := &GetPaymentResponse{XMLName: Name(ResponseElement[OpGetPaymentV2]), Response: Response{Outcome: "OK"}, Data: &PaymentData{
		CreditorReferenceID: "01000000000012373", PaymentAmount: "10.00", DueDate: "2026-12-31", LastPayment: &yes,
		Description: "TARI <2026> & co", CompanyName: "Comune",
		Debtor:    Subject{UniqueIdentifier: UniqueIdentifier{"F", "RSSMRA30A01H501I"}, FullName: "Mario Rossi"},
		Transfers: []Transfer{{IDTransfer: 1, TransferAmount: "10.00", FiscalCodePA: "01234567897", RichiestaMarcaDaBollo: &MarcaDaBollo{"aGFzaA==", "01", "AN"}, RemittanceInformation: "x", TransferCategory: "9/X"}},
	}}
	_, body, err := soap.Marshal(soap.V11, in, false)
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, body)
	if m.Body != Name("paGetPaymentV2Response") || OperationOfResponse(m.Body.Local) != OpGetPaymentV2 {
		t.Fatalf("%v\n%s", m.Body, body)
	}
	var out GetPaymentResponse
	if err := m.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Data.Description != in.Data.Description || out.Data.Transfers[0].RichiestaMarcaDaBollo.ProvinciaResidenza != "AN" || !*out.Data.LastPayment {
		t.Fatalf("round trip: %+v", out.Data)
	}
	// Children are unqualified, the root element is in the paForNode namespace.
	if !bytes.Contains(body, []byte(`<outcome>OK</outcome>`)) {
		t.Fatalf("children qualified:\n%s", body)
	}
}

// FuzzParseRequest feeds arbitrary bytes through the gate, the envelope parser, the
// decoder of whichever operation it names and the schema checks: errors, never panics.
func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"paSendRTReq_avv4.xml", "paVerifyPaymentNoticeReq_avv1.xml", "paGetPaymentReq_avv1.xml", "verifyPaymentNoticeReq.xml"} {
		b, err := os.ReadFile(filepath.Join(samples, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><paDemandPaymentNoticeRequest><idPA>1</idPA></paDemandPaymentNoticeRequest></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if xmlsafe.Check("fuzz", data, 1<<20) != nil {
			return
		}
		env, err := soap.Parse("fuzz", "text/xml", data)
		if err != nil {
			return
		}
		var checker interface{ Check() error }
		switch OperationOf(env.Body.Local) {
		case OpVerify:
			checker = &VerifyRequest{}
		case OpGetPayment, OpGetPaymentV2:
			checker = &GetPaymentRequest{}
		case OpSendRT, OpSendRTV2:
			checker = &SendRTRequest{}
		case OpDemand:
			checker = &DemandRequest{}
		default:
			return
		}
		if env.Decode(checker) == nil {
			_ = checker.Check()
		}
	})
}
