package sdicoop

import (
	"bytes"
	"encoding/xml"
	"testing"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/internal/schematest"
	"snodo/pkg/soap"
	sdixsd "snodo/xsd/sdi"
)

// bodyPayload extracts the element inside soap:Body of an envelope written by
// soap.Marshal (inline), as a standalone document.
func bodyPayload(t *testing.T, env []byte) []byte {
	t.Helper()
	i := bytes.Index(env, []byte("<soap:Body>"))
	j := bytes.LastIndex(env, []byte("</soap:Body>"))
	if i < 0 || j < 0 {
		t.Fatalf("no body in %s", env)
	}
	return env[i+len("<soap:Body>") : j]
}

// Every request and response the hub or the simulator writes is valid against the
// official type schemas of the WSDLs.
func TestWireTypesMatchWSDLSchemas(t *testing.T) {
	now := sdi.DataOra{Time: time.Date(2026, 11, 25, 12, 0, 0, 0, sdi.Rome)}
	file := []byte("<FatturaElettronica/>")
	for _, tc := range []struct {
		name    string
		payload any
		schema  string
	}{
		{"fileSdIAccoglienza", &FileSdIAccoglienza{NomeFile: "IT01234567890_00001.xml", File: file}, sdixsd.TrasmissioneTypes10},
		{"rispostaSdIRiceviFile", &RispostaSdIRiceviFile{IdentificativoSdI: "999999999999", DataOraRicezione: now}, sdixsd.TrasmissioneTypes10},
		{"rispostaSdIRiceviFile EI01", &RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now, Errore: EI01}, sdixsd.TrasmissioneTypes10},
		{"fileSdIConMetadati", &FileSdIConMetadati{IdentificativoSdI: "4294967297", NomeFile: "IT01234567890_00001.xml", File: file,
			NomeFileMetadati: "IT01234567890_00001_MT_001.xml", Metadati: file}, sdixsd.RicezioneTypes},
		{"rispostaRiceviFatture", &RispostaRiceviFatture{Esito: ER01}, sdixsd.RicezioneTypes},
		{"fileSdI (NotificaEsito, DT)", &FileSdI{XMLName: nameFileSdIRicezione, IdentificativoSdI: "1", NomeFile: "IT01234567890_00001_EC_001.xml", File: file}, sdixsd.RicezioneTypes},
		{"rispostaSdINotificaEsito ES01", &RispostaSdINotificaEsito{Esito: ES01}, sdixsd.RicezioneTypes},
		{"rispostaSdINotificaEsito ES00", &RispostaSdINotificaEsito{Esito: ES00, ScartoEsito: &FileSdIBase{NomeFile: "IT01234567890_00001_SE_001.xml", File: file}}, sdixsd.RicezioneTypes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, env, err := soap.Marshal(soap.V11, tc.payload, false)
			if err != nil {
				t.Fatal(err)
			}
			if v := schematest.Violations(t, tc.schema, bodyPayload(t, env)); len(v) > 0 {
				t.Fatalf("violations %v in %s", v, bodyPayload(t, env))
			}
		})
	}
	for _, op := range trasmissioneOps {
		t.Run(op.element, func(t *testing.T) {
			req := &FileSdI{XMLName: xml.Name{Space: NSTrasmissione, Local: op.element}, IdentificativoSdI: "12", NomeFile: "IT01234567890_00001_RC_001.xml", File: file}
			_, env, err := soap.Marshal(soap.V11, req, false)
			if err != nil {
				t.Fatal(err)
			}
			schema := sdixsd.TrasmissioneTypes11
			if op.name == OpNotificaFileNonRecapitabile {
				schema = sdixsd.TrasmissioneTypes10 // the v1.0 element
			}
			if v := schematest.Violations(t, schema, bodyPayload(t, env)); len(v) > 0 {
				t.Fatalf("violations %v", v)
			}
		})
	}
	// The check can fail: an invalid Esito or a 13-digit id is caught.
	_, env, _ := soap.Marshal(soap.V11, &RispostaSdIRiceviFile{IdentificativoSdI: "1234567890123", DataOraRicezione: now, Errore: "EI09"}, false)
	if v := schematest.Violations(t, sdixsd.TrasmissioneTypes10, bodyPayload(t, env)); len(v) != 2 {
		t.Fatalf("want 2 violations, got %v", v)
	}
}

// A request as Axis2 writes it (prefix ns2, unqualified children, MTOM with the file
// and the metadata as attachments) decodes into the types.
func TestDecodeAxisStyleRiceviFatture(t *testing.T) {
	mt := []byte(`<?xml version="1.0"?><types:MetadatiInvioFile xmlns:types="http://www.fatturapa.gov.it/sdi/messaggi/v1.0" versione="1.0"><IdentificativoSdI>000123</IdentificativoSdI><NomeFile>IT01234567890_FPA01.xml</NomeFile><CodiceDestinatario>AAAAAA</CodiceDestinatario><Formato>FPA12</Formato><TentativiInvio>1</TentativiInvio><MessageId>1</MessageId></types:MetadatiInvioFile>`)
	inv := []byte("<p:FatturaElettronica/>")
	var b bytes.Buffer
	b.WriteString("--MIMEBoundary_urn_uuid_1\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <0.urn:uuid:1@apache.org>\r\n\r\n")
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns2:fileSdIConMetadati xmlns:ns2="http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types">` +
		`<IdentificativoSdI>000123</IdentificativoSdI><NomeFile>IT01234567890_FPA01.xml</NomeFile><File><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:1.urn:uuid:2@apache.org"/></File>` +
		`<NomeFileMetadati>IT01234567890_FPA01_MT_001.xml</NomeFileMetadati><Metadati><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:1.urn:uuid:3@apache.org"/></Metadati></ns2:fileSdIConMetadati></soapenv:Body></soapenv:Envelope>`)
	b.WriteString("\r\n--MIMEBoundary_urn_uuid_1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <1.urn:uuid:2@apache.org>\r\n\r\n")
	b.Write(inv)
	b.WriteString("\r\n--MIMEBoundary_urn_uuid_1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <1.urn:uuid:3@apache.org>\r\n\r\n")
	b.Write(mt)
	b.WriteString("\r\n--MIMEBoundary_urn_uuid_1--\r\n")
	ct := `multipart/related; boundary="MIMEBoundary_urn_uuid_1"; type="application/xop+xml"; start="<0.urn:uuid:1@apache.org>"; start-info="text/xml"`
	m, err := soap.Parse("axis", ct, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var req FileSdIConMetadati
	if err := m.Decode(&req); err != nil {
		t.Fatal(err)
	}
	if req.IdentificativoSdI != "123" || !bytes.Equal(req.File, inv) || !bytes.Equal(req.Metadati, mt) {
		t.Fatalf("decoded %+v", req)
	}
	got, err := parseMT(req.NomeFileMetadati, req.Metadati, req.IdentificativoSdI)
	if err != nil || got.CodiceDestinatario != "AAAAAA" {
		t.Fatalf("MT %+v %v", got, err)
	}
}
