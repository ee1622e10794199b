package sdicoop

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"snodo/pkg/soap"
)

// FuzzHubHandlers feeds arbitrary requests to the hub-side handlers: every answer is a
// 200/202 or a SOAP fault, never a panic; nothing malformed reaches the store.
func FuzzHubHandlers(f *testing.F) {
	st := newStore()
	rf, err := NewRicezioneFatture(ServerConfig{Inbound: st})
	if err != nil {
		f.Fatal(err)
	}
	tf, err := NewTrasmissioneFatture(ServerConfig{Inbound: st})
	if err != nil {
		f.Fatal(err)
	}
	mt := []byte(`<types:MetadatiInvioFile xmlns:types="http://www.fatturapa.gov.it/sdi/messaggi/v1.0" versione="1.0"><IdentificativoSdI>1</IdentificativoSdI><NomeFile>IT01234567890_1.xml</NomeFile><CodiceDestinatario>AAAAAA</CodiceDestinatario><Formato>FPA12</Formato><TentativiInvio>1</TentativiInvio><MessageId>1</MessageId></types:MetadatiInvioFile>`)
	for _, mtom := range []bool{false, true} {
		ct, body, _ := soap.Marshal(soap.V11, &FileSdIConMetadati{IdentificativoSdI: "1", NomeFile: "IT01234567890_1.xml", File: []byte("<a/>"), NomeFileMetadati: "IT01234567890_1_MT_001.xml", Metadati: mt}, mtom)
		f.Add(false, ct, body)
		ct, body, _ = soap.Marshal(soap.V11, &FileSdI{XMLName: nameFileSdIRicezione, IdentificativoSdI: "1", NomeFile: "IT01234567890_1_DT_001.xml", File: []byte("<a/>")}, mtom)
		f.Add(false, ct, body)
		for _, op := range trasmissioneOps {
			req := &FileSdI{IdentificativoSdI: "2", NomeFile: "IT01234567890_1_RC_001.xml", File: []byte("<a/>")}
			req.XMLName.Space, req.XMLName.Local = NSTrasmissione, op.element
			ct, body, _ = soap.Marshal(soap.V11, req, mtom)
			f.Add(true, ct, body)
		}
	}
	f.Fuzz(func(t *testing.T, trasmissione bool, ct string, body []byte) {
		h := rf
		if trasmissione {
			h = tf
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusAccepted:
		case http.StatusInternalServerError:
			if !bytes.Contains(w.Body.Bytes(), []byte("Fault>")) {
				t.Fatalf("500 without a SOAP fault: %s", w.Body.Bytes())
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
