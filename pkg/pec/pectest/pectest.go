// Package pectest makes real, verifiable PEC messages for tests: a provider with a
// throwaway CA (testpki), its trust store, and ready-made originals, envelopes and
// receipts. Nothing here is mocked: the messages are what a provider would send.
package pectest

import (
	"testing"

	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/smime"
	"snodo/pkg/testpki"
)

// Provider returns a provider for domain signed by a fresh CA, and a trust store holding
// that CA.
func Provider(t testing.TB, domain string) (*gestore.Provider, *smime.TrustStore) {
	t.Helper()
	ca, err := testpki.NewCA("CA gestori PEC di prova", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ca.Signing("Gestore PEC di prova "+domain, testpki.Options{Email: []string{"posta-certificata@" + domain}})
	if err != nil {
		t.Fatal(err)
	}
	p := &gestore.Provider{Name: "Gestore PEC di prova " + domain, Domain: domain,
		Signer: smime.Signer{Cert: iss.Cert, Key: iss.Key, Chain: iss.Chain}}
	return p, smime.NewTrustStore(ca.Cert)
}

// Invoice is a FatturaPA-like attachment for tests.
var Invoice = compose.Attachment{Name: "IT01234567890_00001.xml", Data: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<p:FatturaElettronica versione="FPA12" xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"><FatturaElettronicaHeader/></p:FatturaElettronica>
`)}

// Original builds a user's message from sender to recipients with the invoice attached
// and reads it as the provider does.
func Original(t testing.TB, from string, to ...string) *gestore.Original {
	t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: from, To: to, Subject: "Invio fattura IT01234567890_00001.xml",
		Text: "In allegato la fattura.", Attachments: []compose.Attachment{Invoice}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := gestore.ReadOriginal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
