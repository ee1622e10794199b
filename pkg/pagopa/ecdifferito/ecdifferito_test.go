package ecdifferito_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"testing"

	"snodo/pkg/pagopa/ecdifferito"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/soap"
)

type client struct {
	url  string
	ente string
}

type enteTransport struct{ ente string }

func (t enteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("X-Test-Ente", t.ente)
	return http.DefaultTransport.RoundTrip(r)
}

func (c client) call(t *testing.T, op string, req any) *ecdifferito.Response {
	t.Helper()
	sc := &soap.Client{HTTP: &http.Client{Transport: enteTransport{c.ente}}}
	var resp ecdifferito.Response
	if err := sc.Call(context.Background(), c.url, op, req, &resp); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return &resp
}

func name(op string) xml.Name { return xml.Name{Space: ecdifferito.NS, Local: op} }

func TestLifecycle(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			cfg := posdbtest.Config()
			cfg.Enti[0].RouteID = "comune"
			db := posdbtest.Open(t, d, posdb.Options{})
			svc, err := ecdifferito.New(cfg, db, func(r *http.Request) (string, bool) {
				v := r.Header.Get("X-Test-Ente")
				return v, v != ""
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(svc)
			defer ts.Close()
			c := client{url: ts.URL, ente: "comune"}
			base := ecdifferito.RequestBase{CodiceEnte: "01234567897", TipoServizio: "TARI"}
			doc := ecdifferito.InserimentoRequest{
				XMLName:     name("inserimentoEC"),
				RequestBase: base,
				Documento:   ecdifferito.Documento{NumeroDocumento: "DOC-1", ImpBollettinoTotaleDocumento: "120.00", Causale: "TARI 2026", Tassonomia: "9/0101002IM"},
				Anagrafica:  ecdifferito.Anagrafica{CodiceFiscale: "RSSMRA30A01H501I", Denominazione: "Mario Rossi"},
				ListScadenze: []ecdifferito.Scadenza{
					{NumeroRata: 1, DataScadenzaRata: "2026-06-30", ImpBollettinoRata: "60.00"},
					{NumeroRata: 2, DataScadenzaRata: "2026-12-31", ImpBollettinoRata: "60.00"},
				},
				ListTributi: []ecdifferito.Tributo{{ImpTributo: "120.00", IBANBancario: "IT60X0542811101000000123456", CodiceCapitolo: "1234", Accertamento: "2026/1"}},
			}
			r := c.call(t, "inserimentoEC", &doc)
			if r.CodiceEsito != ecdifferito.EsitoOK || r.ListAvvisi == nil || len(r.ListAvvisi.Avvisi) != 2 || r.ListAvvisi.Avvisi[1].Importo != "60.00" {
				t.Fatalf("inserimento: %+v", r)
			}
			if r := c.call(t, "inserimentoEC", &doc); r.CodiceEsito != ecdifferito.EsitoOK {
				t.Fatalf("repeated inserimento: %+v", r) // same data: idempotent
			}
			doc.Documento.Causale = "TARI 2026 rettificata"
			if r := c.call(t, "inserimentoEC", &doc); r.CodiceEsito != ecdifferito.EsitoGiaPresente {
				t.Fatalf("inserimento of different data: %+v", r)
			}
			doc.XMLName = name("variazioneEC")
			if r := c.call(t, "variazioneEC", &doc); r.CodiceEsito != ecdifferito.EsitoOK {
				t.Fatalf("variazione: %+v", r)
			}
			p, _ := db.Get(ctx, "01234567897", "DOC-1")
			if p.Description != "TARI 2026 rettificata" || p.Version != 2 || len(p.Options) != 2 {
				t.Fatalf("after variazione: %+v", p)
			}
			// Instalment 1 collected at the ente's desk: partially paid; again: idempotent.
			dis := &ecdifferito.DiscaricoRequest{XMLName: name("discaricoEC"), RequestBase: base, NumeroDocumento: "DOC-1", NumeroRata: 1,
				DataPagamento: "2026-06-15", ImportoPagato: "60.00", Riferimento: "CASSA-77"}
			for i := 0; i < 2; i++ {
				if r := c.call(t, "discaricoEC", dis); r.CodiceEsito != ecdifferito.EsitoOK {
					t.Fatalf("discarico #%d: %+v", i, r)
				}
			}
			if p, _ := db.Get(ctx, "01234567897", "DOC-1"); p.State != position.StatePartiallyPaid {
				t.Fatalf("after discarico: %s", p.State)
			}
			can := &ecdifferito.CancellazioneRequest{XMLName: name("cancellazioneEC"), RequestBase: base, NumeroDocumento: "DOC-1"}
			if r := c.call(t, "cancellazioneEC", can); r.CodiceEsito != ecdifferito.EsitoNonModificabile {
				t.Fatalf("cancel partially paid: %+v", r)
			}
			can.NumeroDocumento = "NOPE"
			if r := c.call(t, "cancellazioneEC", can); r.CodiceEsito != ecdifferito.EsitoNonTrovata {
				t.Fatalf("cancel missing: %+v", r)
			}
			// Another ente's codiceEnte, an unauthenticated caller, invalid data.
			other := doc
			other.XMLName = name("inserimentoEC")
			other.RequestBase.CodiceEnte = "77777777777"
			if r := c.call(t, "inserimentoEC", &other); r.CodiceEsito != ecdifferito.EsitoNonAutorizzato {
				t.Fatalf("other ente: %+v", r)
			}
			noauth := doc
			noauth.XMLName = name("inserimentoEC")
			if r := (client{url: ts.URL}).call(t, "inserimentoEC", &noauth); r.CodiceEsito != ecdifferito.EsitoNonAutorizzato {
				t.Fatalf("no auth: %+v", r)
			}
			single := ecdifferito.InserimentoRequest{XMLName: name("inserimentoEC"), RequestBase: base,
				Documento:  ecdifferito.Documento{NumeroDocumento: "DOC-2", ImpBollettinoTotaleDocumento: "10.00", DataScadenza: "2026-12-31", Causale: "Mensa", Tassonomia: "9/0101108IM"},
				Anagrafica: ecdifferito.Anagrafica{CodiceFiscale: "RSSMRA30A01H501X", Denominazione: "Mario Rossi"}}
			if r := c.call(t, "inserimentoEC", &single); r.CodiceEsito != ecdifferito.EsitoDatiNonValidi {
				t.Fatalf("bad codice fiscale: %+v", r)
			}
			single.Anagrafica.CodiceFiscale = "RSSMRA30A01H501I"
			if r := c.call(t, "inserimentoEC", &single); r.CodiceEsito != ecdifferito.EsitoOK || len(r.ListAvvisi.Avvisi) != 1 {
				t.Fatalf("single with the ente's IBAN: %+v", r)
			}
		})
	}
}
