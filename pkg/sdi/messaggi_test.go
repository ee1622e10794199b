package sdi

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"snodo/pkg/sdi/internal/schematest"
	"snodo/pkg/xmlsafe"
)

const samples = "../../testdata/sdi/notifications"

func readSample(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rome(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, Rome)
	if err != nil {
		panic(err)
	}
	return t
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Every official sample parses into the right type with its fields.
func TestParseSamples(t *testing.T) {
	checks := map[string]func(t *testing.T, m *Message){
		"RC": func(t *testing.T, m *Message) {
			rc := m.Body.(*RicevutaConsegna)
			eq(t, rc.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, rc.NomeFile, "IT01234567890_11111.xml.p7m")
			eqTime(t, rc.DataOraRicezione.Time, utc("2013-06-06T12:00:00Z"))
			eqTime(t, rc.DataOraConsegna.Time, utc("2013-06-06T12:01:00Z"))
			eq(t, *rc.Destinatario, Destinatario{Codice: "AAA111", Descrizione: "Amministrazione di prova"})
			eq(t, rc.MessageId, "123456")
			eq(t, rc.Note, "Esempio")
			eq(t, rc.IntermediarioConDupliceRuolo, "Si")
			eq(t, rc.Versione, "1.0")
		},
		"NS": func(t *testing.T, m *Message) {
			ns := m.Body.(*NotificaScarto)
			eq(t, ns.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, ns.NomeFile, "IT01234567890_11111.xml.p7m")
			eqTime(t, ns.DataOraRicezione.Time, utc("2013-06-06T12:00:00Z"))
			eq(t, *ns.RiferimentoArchivio, RiferimentoArchivio{IdentificativoSdI: "100", NomeFile: "IT01234567890_11111.zip"})
			if !reflect.DeepEqual(ns.ListaErrori.Errore, []Errore{{Codice: "00100", Descrizione: "Certificato di firma scaduto"}}) {
				t.Errorf("errors %+v", ns.ListaErrori.Errore)
			}
			eq(t, ns.Errori(), "00100 Certificato di firma scaduto")
			eq(t, ns.MessageId, "123456")
			eq(t, ns.Note, "Note")
		},
		"MC": func(t *testing.T, m *Message) {
			mc := m.Body.(*NotificaMancataConsegna)
			eq(t, mc.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, mc.NomeFile, "IT01234567890_11111.xml.p7m")
			eqTime(t, mc.DataOraRicezione.Time, rome("2013-06-06T12:00:00"))
			eq(t, mc.Descrizione, "Notifica di esempio")
			eq(t, mc.MessageId, "123456")
		},
		"NE": func(t *testing.T, m *Message) {
			ne := m.Body.(*NotificaEsito)
			eq(t, ne.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, ne.NomeFile, "IT01234567890_11111.xml.p7m")
			ec := ne.EsitoCommittente
			eq(t, ec.Versione, "1.0")
			eq(t, ec.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, *ec.RiferimentoFattura, RiferimentoFattura{NumeroFattura: "1111", AnnoFattura: 2013, PosizioneFattura: 2})
			eq(t, ec.Esito, EC01)
			eq(t, ec.Descrizione, "Notifica di esempio")
			eq(t, ec.MessageIdCommittente, "123456")
			eq(t, ne.MessageId, "123456")
			eq(t, ne.Note, "Notifica di esito di esempio")
		},
		"MT": func(t *testing.T, m *Message) {
			mt := m.Body.(*MetadatiInvioFile)
			eq(t, mt.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, mt.NomeFile, "IT01234567890_11111.xml.p7m")
			eq(t, mt.CodiceDestinatario, "AAA111")
			eq(t, mt.Formato, "SDI10")
			eq(t, mt.TentativiInvio, 1)
			eq(t, mt.MessageId, "123456")
			eq(t, mt.Note, "Esempio")
		},
		"EC": func(t *testing.T, m *Message) {
			ec := m.Body.(*NotificaEsitoCommittente)
			eq(t, ec.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, *ec.RiferimentoFattura, RiferimentoFattura{NumeroFattura: "1111", AnnoFattura: 2013, PosizioneFattura: 2})
			eq(t, ec.Esito, EC01)
			eq(t, ec.Descrizione, "Esempio")
			eq(t, ec.MessageIdCommittente, "123456")
			if err := ec.Check(); err != nil {
				t.Errorf("sample EC fails Check: %v", err)
			}
		},
		"SE": func(t *testing.T, m *Message) {
			se := m.Body.(*ScartoEsitoCommittente)
			eq(t, se.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, se.Scarto, EN00)
			eq(t, se.MessageId, "123456")
			eq(t, se.MessageIdCommittente, "123456")
			eq(t, se.Note, "Esempio")
		},
		"DT": func(t *testing.T, m *Message) {
			dt := m.Body.(*NotificaDecorrenzaTermini)
			eq(t, dt.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, dt.NomeFile, "IT01234567890_11111.xml.p7m")
			eq(t, dt.Descrizione, "Notifica di esempio")
			eq(t, dt.MessageId, "123456")
			eq(t, dt.Note, "Esempio")
			eq(t, dt.IntermediarioConDupliceRuolo, "Si")
		},
		"AT": func(t *testing.T, m *Message) {
			at := m.Body.(*AttestazioneTrasmissioneFattura)
			eq(t, at.IdentificativoSdI, IdentificativoSdI("111"))
			eq(t, at.NomeFile, "IT01234567890_11111.xml.p7m")
			eqTime(t, at.DataOraRicezione.Time, rome("2014-04-01T12:00:00"))
			eq(t, at.Destinatario, Destinatario{Codice: "AAAAAA", Descrizione: "Pubblica Amministrazione di prova"})
			eq(t, at.MessageId, "123456")
			eq(t, at.Note, "Attestazione Trasmissione Fattura di prova")
			eq(t, at.HashFileOriginale, "2c1f3a240a056d9537a8608fed310812ef7b1b7a410d0152f5c9c9e93486ae44")
		},
	}
	for _, dir := range []string{"sdi-official", "testsdi-unsigned"} {
		entries, err := os.ReadDir(filepath.Join(samples, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasSuffix(name, ".zip") || strings.Contains(name, "_11112_") || strings.Contains(name, "_12001_") {
				continue // zip: TestParseATZip; 11112 and 12001: below
			}
			t.Run(dir+"/"+name, func(t *testing.T) {
				data := readSample(t, dir+"/"+name)
				m, err := Parse(name, data)
				if err != nil {
					t.Fatal(err)
				}
				tipo, _ := TipoFromName(name)
				if m.Tipo != tipo || m.Body.Tipo() != tipo || m.B2B {
					t.Fatalf("type %s (B2B %v), want %s", m.Tipo, m.B2B, tipo)
				}
				wantSigned := dir == "sdi-official" && tipo != EC && tipo != MT
				if m.Signed != wantSigned {
					t.Errorf("Signed = %v, want %v", m.Signed, wantSigned)
				}
				if !bytes.Equal(m.Raw, data) || m.NomeFile != name {
					t.Error("Raw or NomeFile not kept")
				}
				checks[string(tipo)](t, m)
			})
		}
	}
}

func TestParseOtherSamples(t *testing.T) {
	m, err := Parse("IT01234567890_11112_EC_001.xml", readSample(t, "sdi-official/IT01234567890_11112_EC_001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ec := m.Body.(*NotificaEsitoCommittente)
	if !m.Signed || ec.Esito != EC01 || ec.IdentificativoSdI != "111" || ec.RiferimentoFattura.PosizioneFattura != 2 {
		t.Fatalf("signed EC: %+v", ec)
	}
	m, err = Parse("IT01234567890_12001_MT_001.xml", readSample(t, "sdi-official/IT01234567890_12001_MT_001.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if mt := m.Body.(*MetadatiInvioFile); mt.Formato != "FPA12" || mt.NomeFile == "" {
		t.Fatalf("MT 12001: %+v", mt)
	}
}

func TestParseB2BSamples(t *testing.T) {
	const id = IdentificativoSdI("724999")
	const name = "ITHVQWPH73P42H501Y_00022.xml"
	const hash = "ef912599ea43cddf0c9ee59e30e38b2a91f0793ef046e61aa120a9d3ee0b5992"
	for _, tc := range []struct {
		file  string
		tipo  Tipo
		check func(t *testing.T, b Messaggio)
	}{
		{"ITHVQWPH73P42H501Y_00022_RC_001.xml", RC, func(t *testing.T, b Messaggio) {
			rc := b.(*RicevutaConsegna)
			eq(t, rc.Hash, hash)
			eqTime(t, rc.DataOraRicezione.Time, utc("2018-06-16T18:34:00+02:00"))
			eqTime(t, rc.DataOraConsegna.Time, utc("2018-06-16T18:35:42+02:00"))
			eq(t, *rc.Destinatario, Destinatario{Codice: "0000000", Descrizione: "prova@pec.it"})
			eq(t, rc.MessageId, "1413855")
		}},
		{"ITHVQWPH73P42H501Y_00022_NS_001.xml", NS, func(t *testing.T, b Messaggio) {
			ns := b.(*NotificaScarto)
			eq(t, ns.Hash, hash)
			if len(ns.ListaErrori.Errore) != 1 {
				t.Fatalf("errors %+v", ns.ListaErrori)
			}
			e := ns.ListaErrori.Errore[0]
			eq(t, e.Codice, "00002")
			eq(t, e.Descrizione, "Nome file duplicato")
			if !strings.HasPrefix(e.Suggerimento, "Il sistema non accetta file con nomi duplicati") {
				t.Errorf("Suggerimento %q", e.Suggerimento)
			}
			eq(t, ns.MessageId, "1413856")
		}},
		{"ITHVQWPH73P42H501Y_00022_MC_001.xml", MC, func(t *testing.T, b Messaggio) {
			mc := b.(*NotificaMancataConsegna)
			eq(t, mc.Hash, hash)
			eq(t, mc.DataMessaADisposizione.Format(time.DateOnly), "2018-06-17")
			if !strings.Contains(mc.Descrizione, "Codice Destinatario: 0000000") {
				t.Errorf("Descrizione %q", mc.Descrizione)
			}
			eq(t, mc.MessageId, "1413857")
		}},
		{"ITHVQWPH73P42H501Y_00022_MT_001.xml", MT, func(t *testing.T, b Messaggio) {
			mt := b.(*MetadatiInvioFile)
			eq(t, mt.Hash, hash)
			eq(t, mt.CodiceDestinatario, "0000000")
			eq(t, mt.Formato, "FPR12")
			eq(t, mt.TentativiInvio, 1)
			eq(t, mt.MessageId, "918929440")
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Parse(tc.file, readSample(t, "b2b/"+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Tipo != tc.tipo || !m.B2B {
				t.Fatalf("type %s B2B %v", m.Tipo, m.B2B)
			}
			if m.Body.Identificativo() != id || m.Body.FileFattura() != name {
				t.Fatalf("id %q file %q", m.Body.Identificativo(), m.Body.FileFattura())
			}
			wantSigned := tc.tipo != MT
			if m.Signed != wantSigned {
				t.Errorf("Signed %v", m.Signed)
			}
			tc.check(t, m.Body)
		})
	}
}

func TestParseATZip(t *testing.T) {
	data := readSample(t, "sdi-official/IT01234567890_11111_AT_001.zip")
	m, err := Parse("IT01234567890_11111_AT_001.zip", data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Tipo != AT || !m.Signed {
		t.Fatalf("zip gave %s signed %v", m.Tipo, m.Signed)
	}
	at := m.Body.(*AttestazioneTrasmissioneFattura)
	eq(t, at.IdentificativoSdI, IdentificativoSdI("111"))
	eq(t, at.Destinatario.Codice, "AAAAAA")
	eq(t, m.NomeFileOriginale, "IT01234567890_11111.xml")
	if len(m.FileOriginale) != 4498 || !bytes.Contains(m.FileOriginale, []byte("FatturaElettronica")) {
		t.Fatalf("original file: %d bytes", len(m.FileOriginale))
	}
	// The official sample's hash does not match its original file (sample data).
	if m.HashOriginaleOK {
		t.Fatal("HashOriginaleOK on the sample, whose hash is of another file")
	}
	if !bytes.Equal(m.Raw, readSample(t, "sdi-official/IT01234567890_11111_AT_001.xml")) {
		t.Fatal("Raw is not the AT XML inside the zip")
	}
}

func TestBuildAndZipAT(t *testing.T) {
	orig := []byte("<FatturaElettronica/>")
	sum := sha256.Sum256(orig)
	at := &AttestazioneTrasmissioneFattura{
		IdentificativoSdI: "4000000001", NomeFile: "IT01234567890_00001.xml",
		DataOraRicezione: DataOra{time.Date(2026, 1, 2, 3, 4, 5, 0, Rome)},
		Destinatario:     Destinatario{Codice: "CCCCCC", Descrizione: "Ente"}, MessageId: "42",
		HashFileOriginale: hex.EncodeToString(sum[:]),
	}
	x, err := Marshal(at)
	if err != nil {
		t.Fatal(err)
	}
	name := NomeFileMessaggio(at.NomeFile, AT, 1)
	eq(t, name, "IT01234567890_00001_AT_001.zip")
	z, err := ZipAT(name, x, at.NomeFile, orig)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(name, z)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HashOriginaleOK || !bytes.Equal(m.FileOriginale, orig) || m.NomeFileOriginale != at.NomeFile {
		t.Fatalf("round trip: ok=%v %q", m.HashOriginaleOK, m.NomeFileOriginale)
	}
}

// Marshalled messages are valid against the official schemas (all but the signature the
// SdI adds) and parse back to the same values.
func TestMarshalValidAndRoundTrip(t *testing.T) {
	when := DataOra{time.Date(2026, 11, 25, 10, 30, 0, 0, Rome)}
	rif := &RiferimentoFattura{NumeroFattura: "FPA 123/2026", AnnoFattura: 2026, PosizioneFattura: 1}
	esito := EsitoCommittente{IdentificativoSdI: "987654321012", RiferimentoFattura: rif, Esito: EC02, Descrizione: "Importo errato", MessageIdCommittente: "EC-1"}
	dm := &Data{time.Date(2026, 11, 26, 0, 0, 0, 0, Rome)}
	for _, tc := range []struct {
		msg     Messaggio
		schema  string
		signReq bool
	}{
		{&RicevutaConsegna{IdentificativoSdI: "987654321012", NomeFile: "IT01234567890_00001.xml", DataOraRicezione: when, DataOraConsegna: when,
			Destinatario: &Destinatario{Codice: "AAAAAA", Descrizione: "Comune di prova"}, MessageId: "1"}, "MessaggiTypes_v1.1.xsd", true},
		{&NotificaScarto{IdentificativoSdI: "5", NomeFile: "IT01234567890_00002.xml", DataOraRicezione: when,
			ListaErrori: ListaErrori{Errore: []Errore{{Codice: "00200", Descrizione: "File non conforme al formato"}, {Codice: "00423", Descrizione: "PrezzoTotale errato"}}}, MessageId: "2"}, "MessaggiTypes_v1.1.xsd", true},
		{&NotificaMancataConsegna{IdentificativoSdI: "5", NomeFile: "IT01234567890_00002.xml", DataOraRicezione: when, Descrizione: "Ente non raggiungibile", MessageId: "3"}, "MessaggiTypes_v1.1.xsd", true},
		{&NotificaEsito{IdentificativoSdI: "987654321012", NomeFile: "IT01234567890_00001.xml", EsitoCommittente: EsitoCommittenteNE{EsitoCommittente: esito}, MessageId: "4"}, "MessaggiTypes_v1.1.xsd", true},
		{&MetadatiInvioFile{IdentificativoSdI: "987654321012", NomeFile: "IT01234567890_00001.xml", CodiceDestinatario: "AAAAAA", Formato: "FPA12", TentativiInvio: 1, MessageId: "5"}, "MessaggiTypes_v1.1.xsd", false},
		{&NotificaEsitoCommittente{EsitoCommittente: esito}, "MessaggiTypes_v1.1.xsd", false},
		{&ScartoEsitoCommittente{IdentificativoSdI: "987654321012", RiferimentoFattura: rif, Scarto: EN01, MessageId: "6", MessageIdCommittente: "EC-1", Note: "Esito già ricevuto"}, "MessaggiTypes_v1.1.xsd", true},
		{&NotificaDecorrenzaTermini{IdentificativoSdI: "987654321012", NomeFile: "IT01234567890_00001.xml", Descrizione: "Decorsi i termini", MessageId: "7"}, "MessaggiTypes_v1.1.xsd", true},
		{&AttestazioneTrasmissioneFattura{IdentificativoSdI: "5", NomeFile: "IT01234567890_00002.xml", DataOraRicezione: when, Destinatario: Destinatario{Codice: "CCCCCC", Descrizione: "Ente"}, MessageId: "8", HashFileOriginale: "abc"}, "MessaggiTypes_v1.1.xsd", true},
		{&RicevutaConsegna{Header: Header{B2B: true}, IdentificativoSdI: "9", NomeFile: "IT01234567890_00003.xml", Hash: "ff", DataOraRicezione: when, DataOraConsegna: when,
			Destinatario: &Destinatario{Codice: "ABC1234"}, MessageId: "9"}, "MessaggiFatturaTypes_v1.0.xsd", false},
		{&NotificaScarto{Header: Header{B2B: true}, IdentificativoSdI: "9", NomeFile: "IT01234567890_00003.xml", Hash: "ff", DataOraRicezione: when,
			ListaErrori: ListaErrori{Errore: []Errore{{Codice: "00002", Descrizione: "Nome file duplicato", Suggerimento: "Cambiare nome"}}}, MessageId: "10"}, "MessaggiFatturaTypes_v1.0.xsd", false},
		{&NotificaMancataConsegna{Header: Header{B2B: true}, IdentificativoSdI: "9", NomeFile: "IT01234567890_00003.xml", Hash: "ff", DataOraRicezione: when, DataMessaADisposizione: dm, MessageId: "11"}, "MessaggiFatturaTypes_v1.0.xsd", false},
		{&MetadatiInvioFile{Header: Header{B2B: true}, IdentificativoSdI: "9", NomeFile: "IT01234567890_00003.xml", Hash: "ff", CodiceDestinatario: "ABC1234", Formato: "FPR12", TentativiInvio: 2, MessageId: "12"}, "MessaggiFatturaTypes_v1.0.xsd", false},
	} {
		name := string(tc.msg.Tipo())
		if tc.msg.hdr().B2B {
			name += "-b2b"
		}
		t.Run(name, func(t *testing.T) {
			x, err := Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			v := schematest.Violations(t, tc.schema, x)
			if tc.signReq && !schematest.OnlyMissingSignature(v) || !tc.signReq && len(v) != 0 {
				t.Fatalf("schema violations %v in\n%s", v, x)
			}
			m, err := Parse(NomeFileMessaggio("IT01234567890_00001.xml", tc.msg.Tipo(), 1), x)
			if err != nil {
				t.Fatal(err)
			}
			if m.Tipo != tc.msg.Tipo() || m.B2B != tc.msg.hdr().B2B || m.Body.Identificativo() != tc.msg.Identificativo() {
				t.Fatalf("round trip: %+v", m)
			}
			y, err := Marshal(m.Body)
			if err != nil || !bytes.Equal(x, y) {
				t.Fatalf("re-marshal differs:\n%s\n%s", x, y)
			}
		})
	}
	// The check can fail: a wrong Esito is caught by the schema.
	bad, _ := Marshal(&NotificaEsitoCommittente{EsitoCommittente: EsitoCommittente{IdentificativoSdI: "1", Esito: "EC03"}})
	if v := schematest.Violations(t, "MessaggiTypes_v1.1.xsd", bad); len(v) == 0 || !strings.Contains(v[0], "EC03") {
		t.Fatalf("invalid EC passed the schema: %v", v)
	}
	if _, err := Marshal(&NotificaEsito{Header: Header{B2B: true}}); err == nil {
		t.Fatal("B2B NE accepted")
	}
}

func TestParseRejects(t *testing.T) {
	rc := readSample(t, "testsdi-unsigned/IT01234567890_11111_RC_001.xml")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"x_NS_001.xml", rc, "the name says NS, the content is RC"},
		{"a.xml", []byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a/>`), "DOCTYPE"},
		{"a.xml", []byte(`<FatturaElettronica xmlns="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"/>`), "not an SdI message"},
		{"a.xml", []byte(`<t:Boh xmlns:t="http://www.fatturapa.gov.it/sdi/messaggi/v1.0"/>`), "unknown root element"},
		{"a.xml", []byte(`<t:RicevutaConsegna xmlns:t="http://www.fatturapa.gov.it/sdi/messaggi/v1.0"><IdentificativoSdI>abc def</IdentificativoSdI></t:RicevutaConsegna>`), "not allowed"},
		{"a.xml", []byte(`<t:RicevutaConsegna xmlns:t="http://www.fatturapa.gov.it/sdi/messaggi/v1.0"><NomeFile>a</NomeFile></t:RicevutaConsegna>`), "IdentificativoSdI missing"},
		{"a.xml", []byte(`<t:RicevutaConsegna xmlns:t="http://www.fatturapa.gov.it/sdi/messaggi/v1.0"><IdentificativoSdI>1</IdentificativoSdI><DataOraRicezione>ieri</DataOraRicezione></t:RicevutaConsegna>`), "invalid xsd:dateTime"},
		{"a.xml", bytes.Repeat([]byte(" "), MaxMessageBytes+1), "exceeds"},
		{"a.xml", []byte(`<?xml version="1.0" encoding="EBCDIC"?><a/>`), "unsupported encoding"},
		{"a.zip", []byte("PK\x03\x04garbage"), "invalid zip"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Parse(tc.name, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a *ParseError: %T", err)
			}
		})
	}
	// xmlsafe errors stay reachable.
	_, err := Parse("a.xml", []byte(`<!DOCTYPE a><a/>`))
	if !errors.Is(err, xmlsafe.ErrDoctype) {
		t.Fatalf("want xmlsafe.ErrDoctype, got %v", err)
	}
	// Namespace without ".gov" and ISO-8859-1 are accepted.
	latin := []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t:NotificaDecorrenzaTermini xmlns:t=\"http://www.fatturapa.it/sdi/messaggi/v1.0\" versione=\"1.0\"><IdentificativoSdI>7</IdentificativoSdI><NomeFile>a.xml</NomeFile><Descrizione>Citt\xe0</Descrizione><MessageId>1</MessageId></t:NotificaDecorrenzaTermini>")
	m, err := Parse("", latin)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Body.(*NotificaDecorrenzaTermini).Descrizione; d != "Città" {
		t.Fatalf("latin-1 decoded as %q", d)
	}
}

func TestATZipRejects(t *testing.T) {
	at, _ := Marshal(&AttestazioneTrasmissioneFattura{IdentificativoSdI: "1", NomeFile: "a.xml", MessageId: "1", HashFileOriginale: "x"})
	for _, tc := range []struct {
		name  string
		build func() []byte
		want  string
	}{
		{"no AT", func() []byte { return zipOf(t, "IT1_XX.xml", []byte("<a/>"), "orig.xml", []byte("o")) }, "no AT message"},
		{"too many", func() []byte { return zipOf(t, "IT1_AT_001.xml", at, "a.xml", nil, "b.xml", nil) }, "more than one file"},
		{"empty", func() []byte { return zipOf(t) }, "the archive has 0 files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("IT1_AT_001.zip", tc.build())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestIdentificativoSdI(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"111", "111", true},
		{" 000123 ", "123", true},
		{"+42", "42", true},
		{"0", "0", true},
		{"999999999999", "999999999999", true},
		{"4294967297", "4294967297", true}, // beyond 32 bits
		{"a1b2-C3_d.4", "a1b2-C3_d.4", true},
		{"", "", false},
		{"1234567890123456789", "", false},
		{"ab cd", "", false},
		{strings.Repeat("a", 37), "", false},
	} {
		got, err := ParseIdentificativoSdI(tc.in)
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("ParseIdentificativoSdI(%q) = %q, %v", tc.in, got, err)
		}
	}
	if n, ok := IdentificativoSdI("4294967297").Int64(); !ok || n != 4294967297 {
		t.Fatal("Int64")
	}
	if _, ok := IdentificativoSdI("a1").Int64(); ok {
		t.Fatal("Int64 of a B2B id")
	}
	if IdentificativoSdI("1234567890123").CheckWS() == nil || IdentificativoSdI("x").CheckWS() == nil || IdentificativoSdI("123").CheckWS() != nil {
		t.Fatal("CheckWS")
	}
	if !IdentificativoSdI("0").IsZero() || !IdentificativoSdI("").IsZero() || IdentificativoSdI("10").IsZero() {
		t.Fatal("IsZero")
	}
}

func TestECCheck(t *testing.T) {
	ok := NotificaEsitoCommittente{EsitoCommittente: EsitoCommittente{IdentificativoSdI: "1", Esito: EC01}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	bad := NotificaEsitoCommittente{EsitoCommittente: EsitoCommittente{IdentificativoSdI: "x", Esito: "EC03",
		Descrizione: strings.Repeat("d", 256), MessageIdCommittente: strings.Repeat("m", 15),
		RiferimentoFattura: &RiferimentoFattura{NumeroFattura: "città"}}}
	err := bad.Check()
	for _, want := range []string{"1 to 12 digits", "EC01 or EC02", "longer than 255", "longer than 14", "basic Latin"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: want %q in %v", want, err)
		}
	}
}

func TestBuildEsitoCommittente(t *testing.T) {
	x, err := BuildEsitoCommittente("4294967297", EC02, "Regola R1: CIG mancante", &RiferimentoFattura{NumeroFattura: "12", AnnoFattura: 2026}, "HUB-1")
	if err != nil {
		t.Fatal(err)
	}
	if v := schematest.Violations(t, "MessaggiTypes_v1.1.xsd", x); len(v) != 0 {
		t.Fatalf("violations %v", v)
	}
	m, err := Parse("IT01234567890_00001_EC_001.xml", x)
	if err != nil {
		t.Fatal(err)
	}
	ec := m.Body.(*NotificaEsitoCommittente)
	if ec.IdentificativoSdI != "4294967297" || ec.Esito != EC02 || ec.RiferimentoFattura.NumeroFattura != "12" || ec.MessageIdCommittente != "HUB-1" {
		t.Fatalf("EC %+v", ec)
	}
	if _, err := BuildEsitoCommittente("1", "EC03", "", nil, ""); err == nil || !strings.Contains(err.Error(), "EC01 or EC02") {
		t.Fatalf("bad esito: %v", err)
	}
	if _, err := BuildEsitoCommittente("1", EC02, strings.Repeat("x", 256), nil, ""); err == nil {
		t.Fatal("256-character description accepted")
	}
}

func TestNomeFileMessaggio(t *testing.T) {
	for _, tc := range []struct {
		in   string
		t    Tipo
		n    int
		want string
	}{
		{"IT01234567890_11111.xml.p7m", RC, 1, "IT01234567890_11111_RC_001.xml"},
		{"IT01234567890_11111.XML", NS, 12, "IT01234567890_11111_NS_012.xml"},
		{"IT01234567890_11111.zip", AT, 1, "IT01234567890_11111_AT_001.zip"},
		{"IT01234567890_11111.xml", EC, 3, "IT01234567890_11111_EC_003.xml"},
	} {
		if got := NomeFileMessaggio(tc.in, tc.t, tc.n); got != tc.want {
			t.Errorf("%s %s %d: %s", tc.in, tc.t, tc.n, got)
		}
	}
	for name, want := range map[string]Tipo{"IT1_11111_rc_001.xml": RC, "dir/IT1_1_AT_00A.zip": AT, "IT1_1.xml": ""} {
		if got, _ := TipoFromName(name); got != want {
			t.Errorf("TipoFromName(%s) = %s", name, got)
		}
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func eqTime(t *testing.T, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("time %v, want %v", got, want)
	}
}

// zipOf builds a zip of name, data pairs (data nil means empty).
func zipOf(t *testing.T, kv ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		w, err := zw.Create(kv[i].(string))
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := kv[i+1].([]byte); d != nil {
			w.Write(d)
		}
	}
	zw.Close()
	return b.Bytes()
}
