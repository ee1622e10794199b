package sdipec_test

import (
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

func mustMarshal(t testing.TB, m sdi.Messaggio) []byte {
	t.Helper()
	b, err := sdi.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inbound builds the item the pec channel hands over for an SdI PEC.
func inbound(subject, name string, data []byte, extra ...message.File) channel.Inbound {
	h := map[string]string{pecchannel.HeaderMittente: "sdi02@pec.fatturapa.it", pecchannel.HeaderOggetto: subject,
		pecchannel.HeaderTipo: "posta-certificata", pecchannel.HeaderData: "2025-03-14T10:00:00+01:00"}
	if name == "" {
		h[pecchannel.HeaderSenzaAllegati] = "true"
		name, data = "postacert.eml", []byte("x")
	}
	return channel.Inbound{FileName: name, Data: data, Headers: h, Files: extra}
}

func TestClassify(t *testing.T) {
	invoice := supplierInvoice("UFA000", "C1")
	mt := mustMarshal(t, &sdi.MetadatiInvioFile{IdentificativoSdI: "5000000042", NomeFile: "IT01234567890_C0001.xml", CodiceDestinatario: "UFA000",
		Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
	mtFile := message.File{Name: "IT01234567890_C0001_MT_001.xml", Role: message.RoleMetadata, Data: mt}
	rc := mustMarshal(t, &sdi.RicevutaConsegna{IdentificativoSdI: "5000000043", NomeFile: "IT80012345676_00001.xml",
		DataOraRicezione: sdi.DataOra{Time: time.Now()}, DataOraConsegna: sdi.DataOra{Time: time.Now()}, MessageId: "2",
		Destinatario: &sdi.Destinatario{Codice: "AAAAAA", Descrizione: "x"}})
	env := message.File{Name: "x.pec.eml", Role: pecchannel.RoleEnvelope, Data: []byte("busta")}
	tests := []struct {
		name string
		in   channel.Inbound
		err  string // "" = classified
		want func(t *testing.T, it *sdipec.Item)
	}{
		{name: "invoice with MT", in: inbound("Invio File 5000000042", "IT01234567890_C0001.xml", invoice, mtFile, env),
			want: func(t *testing.T, it *sdipec.Item) {
				if !it.Invoice || it.ID != "5000000042" || it.MT == nil || it.MTErr != nil || it.NomeFileMetadati != mtFile.Name || it.From != "sdi02@pec.fatturapa.it" {
					t.Errorf("%+v", it)
				}
				if it.At.IsZero() || len(it.Extra) != 0 {
					t.Errorf("at %v extra %v", it.At, it.Extra)
				}
			}},
		{name: "invoice without MT: id from the subject", in: inbound("Invio File 5000000044 (SIMULAZIONE)", "IT01234567890_C0001.xml", invoice),
			want: func(t *testing.T, it *sdipec.Item) {
				if !it.Invoice || it.ID != "5000000044" || it.MTErr == nil || it.NomeFileMetadati != "IT01234567890_C0001_MT_001.xml" {
					t.Errorf("%+v", it)
				}
			}},
		{name: "MT and subject disagree: the MT counts", in: inbound("Invio File 7", "IT01234567890_C0001.xml", invoice, mtFile),
			want: func(t *testing.T, it *sdipec.Item) {
				if it.ID != "5000000042" || it.MTErr == nil || !strings.Contains(it.MTErr.Error(), "diverso") {
					t.Errorf("%+v", it)
				}
			}},
		{name: "invoice without any id", in: inbound("Invio File", "IT01234567890_C0001.xml", invoice), err: "senza IdentificativoSdI"},
		{name: "invoice with a name the SdI never gives", in: inbound("Invio File 5", "fattura di prova.xml", invoice), err: "non valido"},
		{name: "RC", in: inbound("Ricevuta di consegna 5000000043", "IT80012345676_00001_RC_001.xml", rc, env),
			want: func(t *testing.T, it *sdipec.Item) {
				if it.Invoice || it.Tipo != sdi.RC || it.ID != "5000000043" || it.Message == nil || it.ParseErr != nil {
					t.Errorf("%+v", it)
				}
			}},
		{name: "unreadable RC named in the subject", in: inbound("Ricevuta di consegna 99", "IT80012345676_00001_RC_001.xml", []byte("<rotto")),
			want: func(t *testing.T, it *sdipec.Item) {
				if it.Tipo != sdi.RC || it.ID != "99" || it.Message != nil || it.ParseErr == nil {
					t.Errorf("%+v", it)
				}
			}},
		{name: "RC name, NS content", in: inbound("x 1", "IT80012345676_00001_RC_001.xml", mustMarshal(t, &sdi.NotificaScarto{IdentificativoSdI: "12",
			NomeFile: "IT80012345676_00001.xml", MessageId: "3", ListaErrori: sdi.ListaErrori{Errore: []sdi.Errore{{Codice: "00311", Descrizione: "x"}}}})),
			want: func(t *testing.T, it *sdipec.Item) {
				if it.Tipo != sdi.RC || it.ParseErr == nil || it.ID != "1" {
					t.Errorf("%+v", it)
				}
			}},
		{name: "unreadable RC, no id", in: inbound("Ricevuta di consegna", "IT80012345676_00001_RC_001.xml", []byte("<rotto")), err: "senza IdentificativoSdI"},
		{name: "an EC from the SdI", in: inbound("x 5", "IT80012345676_00001_EC_001.xml", []byte("<x/>")), err: "non invia"},
		{name: "no attachment", in: inbound("Invio File 5", "", nil), err: "nessun file"},
		{name: "path in the name", in: inbound("Invio File 5", "../IT01234567890_C0001.xml", invoice), err: "separatore"},
		{name: "extra attachments noted", in: inbound("Invio File 5000000042", "IT01234567890_C0001.xml", invoice, mtFile,
			message.File{Name: "altro.pdf", Role: "attachment", Data: []byte("%PDF")}),
			want: func(t *testing.T, it *sdipec.Item) {
				if len(it.Extra) != 1 || it.Extra[0] != "altro.pdf" {
					t.Errorf("extra %v", it.Extra)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it, err := sdipec.Classify(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, it)
		})
	}
}

func TestIDFromSubject(t *testing.T) {
	for subject, want := range map[string]sdi.IdentificativoSdI{
		"Invio File 5000000001":                       "5000000001",
		"Ricevuta di consegna 123 (SIMULAZIONE)":      "123",
		"POSTA CERTIFICATA: Notifica di scarto 00042": "42",
		"Invio File":                     "",
		"IT01234567890_00001.xml":        "",
		"Invio File 1234567890123456789": "",
		"":                               "",
	} {
		if got := sdipec.IDFromSubject(subject); got != want {
			t.Errorf("IDFromSubject(%q) = %q, want %q", subject, got, want)
		}
	}
}

// FuzzClassify: whatever an SdI PEC carries, Classify answers without panicking, and
// what it accepts has a usable IdentificativoSdI and file name.
func FuzzClassify(f *testing.F) {
	mt := mustMarshal(f, &sdi.MetadatiInvioFile{IdentificativoSdI: "5000000042", NomeFile: "IT01234567890_C0001.xml", CodiceDestinatario: "UFA000",
		Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
	f.Add("Invio File 5000000042", "IT01234567890_C0001.xml", supplierInvoice("UFA000", "C1"), "IT01234567890_C0001_MT_001.xml", mt)
	f.Add("Ricevuta di consegna 9", "IT80012345676_00001_RC_001.xml", []byte("<rotto"), "", []byte(nil))
	f.Add("x", "IT80012345676_00001_AT_001.zip", []byte("PK\x03\x04"), "", []byte(nil))
	f.Add("Notifica 1", "IT80012345676_00001_SE_001.xml", []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`), "", []byte(nil))
	f.Fuzz(func(t *testing.T, subject, name string, data []byte, mtName string, mtData []byte) {
		var extra []message.File
		if mtName != "" {
			extra = append(extra, message.File{Name: mtName, Role: message.RoleMetadata, Data: mtData})
		}
		in := channel.Inbound{FileName: name, Data: data, Files: extra, Headers: map[string]string{pecchannel.HeaderOggetto: subject,
			pecchannel.HeaderMittente: "sdi01@pec.fatturapa.it"}}
		it, err := sdipec.Classify(in)
		if err != nil {
			return
		}
		if it.ID.IsZero() || it.ID.CheckWS() != nil {
			t.Fatalf("accepted with IdentificativoSdI %q", it.ID)
		}
		if channel.SafeFileName(it.NomeFile) != nil {
			t.Fatalf("accepted unsafe name %q", it.NomeFile)
		}
		if it.Invoice && sdicoop.CheckNomeFile("NomeFile", it.NomeFile) != nil {
			t.Fatalf("invoice accepted with name %q", it.NomeFile)
		}
	})
}
