package pafornode

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestParseMockECSamples(t *testing.T) {
	env, err := ParseEnvelope(readSample(t, "paSendRTReq_avv4.xml"))
	if err != nil || env.Element != "paSendRTReq" || env.Namespace != NS || OperationOf(env.Element) != OpSendRT {
		t.Fatalf("envelope %+v, %v", env, err)
	}
	var rt SendRTRequest
	if err := env.Decode(&rt); err != nil {
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

	env, err = ParseEnvelope(readSample(t, "paVerifyPaymentNoticeReq_avv1.xml"))
	if err != nil || env.Element != "paVerifyPaymentNoticeReq" || env.Namespace != NSNodeForPsp {
		t.Fatalf("verify envelope %+v, %v", env, err)
	}
	var v VerifyRequest
	if err := env.Decode(&v); err != nil || v.Check() != nil || v.QrCode.NoticeNumber != "302009921337126000" {
		t.Fatalf("verify %+v, %v", v, err)
	}

	env, err = ParseEnvelope(readSample(t, "paGetPaymentReq_avv1.xml"))
	var g GetPaymentRequest
	if err != nil || env.Decode(&g) != nil || g.Check() != nil || g.Amount != "120.00" {
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

func TestEnvelopeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<a/>`, "Envelope"},
		{`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x/></s:Body></s:Envelope>`, "SOAP 1.2"},
		{`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`, "vuoto"},
		{`<s:Envelope xmlns:s="urn:x"/>`, "namespace"},
	}
	for _, tc := range tests {
		if _, err := ParseEnvelope([]byte(tc.in)); err == nil || !errors.Is(err, ErrEnvelope) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseEnvelope(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	// Errors inside the body element surface when it is decoded.
	for _, in := range []string{
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x></y></s:Body></s:Envelope>`,
	} {
		env, err := ParseEnvelope([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var v VerifyRequest
		if err := env.Decode(&v); err == nil || !strings.Contains(err.Error(), "non conforme") {
			t.Errorf("Decode(%q) = %v", in, err)
		}
	}
	// A header is skipped.
	env, err := ParseEnvelope([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h><i/></h></s:Header><s:Body><p:paSendRTRes xmlns:p="` + NS + `"><outcome>OK</outcome></p:paSendRTRes></s:Body></s:Envelope>`))
	if err != nil || env.Element != "paSendRTRes" {
		t.Fatal(env, err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	yes := true
	in := &GetPaymentResponse{Response: Response{Outcome: "OK"}, Data: &PaymentData{
		CreditorReferenceID: "01000000000012373", PaymentAmount: "10.00", DueDate: "2026-12-31", LastPayment: &yes,
		Description: "TARI <2026> & co", CompanyName: "Comune",
		Debtor:    Subject{UniqueIdentifier: UniqueIdentifier{"F", "RSSMRA30A01H501I"}, FullName: "Mario Rossi"},
		Transfers: []Transfer{{IDTransfer: 1, TransferAmount: "10.00", FiscalCodePA: "01234567897", RichiestaMarcaDaBollo: &MarcaDaBollo{"aGFzaA==", "01", "AN"}, RemittanceInformation: "x", TransferCategory: "9/X"}},
	}}
	var b bytes.Buffer
	if err := Encode(&b, ResponseElement[OpGetPaymentV2], in); err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(b.Bytes())
	if err != nil || env.Element != "paGetPaymentV2Response" || env.Namespace != NS {
		t.Fatalf("%v %v\n%s", env, err, b.String())
	}
	var out GetPaymentResponse
	if err := env.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Data.Description != in.Data.Description || out.Data.Transfers[0].RichiestaMarcaDaBollo.ProvinciaResidenza != "AN" || !*out.Data.LastPayment {
		t.Fatalf("round trip: %+v", out.Data)
	}

	b.Reset()
	if err := EncodeFault(&b, "Client", "richiesta <non> valida"); err != nil {
		t.Fatal(err)
	}
	env, err = ParseEnvelope(b.Bytes())
	var f SOAPFault
	if err != nil || !env.IsFault() || env.Decode(&f) != nil || f.String != "richiesta <non> valida" || f.Code != "soapenv:Client" {
		t.Fatalf("fault %+v %v", f, err)
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
		env, err := ParseEnvelope(data)
		if err != nil {
			return
		}
		var checker interface{ Check() error }
		switch OperationOf(env.Element) {
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
