package ecdifferito

import (
	"testing"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/soap"
)

// FuzzInserimento feeds arbitrary envelopes through the SOAP parser, the request
// decoding and the mapping onto a position: a verdict, never a panic.
func FuzzInserimento(f *testing.F) {
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:inserimentoEC xmlns:m="urn:snodo:pagopa:IntegraEcDifferito:1">` +
		`<requestBase><codiceEnte>01234567897</codiceEnte></requestBase><documento><numeroDocumento>D</numeroDocumento>` +
		`<impBollettinoTotaleDocumento>10.00</impBollettinoTotaleDocumento><causale>c</causale></documento>` +
		`<anagrafica><codiceFiscale>RSSMRA30A01H501I</codiceFiscale><denominazione>M</denominazione></anagrafica>` +
		`<listScadenze><scadenza><numeroRata>1</numeroRata><dataScadenzaRata>2026-01-31</dataScadenzaRata><impBollettinoRata>5.00</impBollettinoRata></scadenza></listScadenze>` +
		`<listTributi><tributo><impTributo>10.00</impTributo></tributo></listTributi></m:inserimentoEC></s:Body></s:Envelope>`))
	e := &pagopa.Ente{FiscalCode: "01234567897", Name: "Comune", IBAN: "IT60X0542811101000000123456"}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := soap.Parse("fuzz", "text/xml", data)
		if err != nil {
			return
		}
		var in InserimentoRequest
		if m.Decode(&in) != nil {
			return
		}
		p, resp := toPosition(&in, e)
		if resp != nil {
			if resp.CodiceEsito != EsitoDatiNonValidi {
				t.Fatalf("esito %s", resp.CodiceEsito)
			}
			return
		}
		p.Ente = e.FiscalCode
		p.Normalize()
		_ = position.Validate(p, position.Rules{})
	})
}
