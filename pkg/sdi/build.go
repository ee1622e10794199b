package sdi

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Marshal writes a message as the SdI does: an XML declaration and the root element,
// prefixed "types", in the PA namespace (or the B2B one when the message's B2B flag is
// set), with versione="1.0". Children are unqualified, as the schemas require. No
// signature is written: a signer adds it to the result.
func Marshal(m Messaggio) ([]byte, error) {
	names, ok := rootElements[m.Tipo()]
	if !ok {
		return nil, fmt.Errorf("sdi: marshal: unknown message type %q", m.Tipo())
	}
	h := m.hdr()
	root, ns := names[0], NSMessaggi
	if h.B2B {
		root, ns = names[1], NSMessaggiB2B
		if root == "" {
			return nil, fmt.Errorf("sdi: marshal: il messaggio %s non esiste nel formato B2B (%s has no B2B form)", m.Tipo(), m.Tipo())
		}
	}
	if h.Versione == "" {
		h.Versione = "1.0"
	}
	if ne, ok := m.(*NotificaEsito); ok && ne.EsitoCommittente.Versione == "" {
		ne.EsitoCommittente.Versione = "1.0"
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{
		Name: xml.Name{Local: "types:" + root},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:types"}, Value: ns}},
	}
	if err := enc.EncodeElement(m, start); err != nil {
		return nil, fmt.Errorf("sdi: marshal %s: %w", m.Tipo(), err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// NomeFileMessaggio names message n (1-999) of type t about the invoice file fattura:
// IT01234567890_11111.xml.p7m, RC, 1 → IT01234567890_11111_RC_001.xml (.zip for AT).
func NomeFileMessaggio(fattura string, t Tipo, n int) string {
	base := fattura
	for _, ext := range []string{".xml.p7m", ".xml", ".zip", ".p7m"} {
		if len(base) > len(ext) && strings.EqualFold(base[len(base)-len(ext):], ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	ext := ".xml"
	if t == AT {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%03d%s", base, t, n%1000, ext)
}

// ZipAT packs an AT message and the original file as the SdI delivers them. The AT
// entry is named like the zip with .xml.
func ZipAT(nomeZip string, at []byte, nomeOriginale string, originale []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	atName := strings.TrimSuffix(nomeZip, ".zip") + ".xml"
	now := time.Now()
	for _, e := range []struct {
		name string
		data []byte
	}{{atName, at}, {nomeOriginale, originale}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: now})
		if err != nil {
			return nil, fmt.Errorf("sdi: zip AT %s: %w", nomeZip, err)
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, fmt.Errorf("sdi: zip AT %s: %w", nomeZip, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("sdi: zip AT %s: %w", nomeZip, err)
	}
	return b.Bytes(), nil
}

// BuildEsitoCommittente writes the Esito Committente (EC) of a recipient about invoice
// id: esito EC01 (accepted) or EC02 (refused), an optional description (max 255
// characters: the reasons of a refusal), an optional reference to one invoice of a lot,
// and an optional MessageIdCommittente. The EC is checked first (see Check); name the
// file with NomeFileMessaggio(invoiceFile, EC, n).
func BuildEsitoCommittente(id IdentificativoSdI, esito, descrizione string, rif *RiferimentoFattura, messageID string) ([]byte, error) {
	ec := &NotificaEsitoCommittente{EsitoCommittente: EsitoCommittente{
		IdentificativoSdI: id, RiferimentoFattura: rif, Esito: esito, Descrizione: descrizione, MessageIdCommittente: messageID}}
	if err := ec.Check(); err != nil {
		return nil, fmt.Errorf("sdi: esito committente per %s: %w", id, err)
	}
	return Marshal(ec)
}

// Check verifies an Esito Committente against the schema's rules before it is sent
// (the checks the SdI answers with EN00): Esito EC01/EC02, a numeric IdentificativoSdI,
// the lengths and characters of the optional fields.
func (e *NotificaEsitoCommittente) Check() error {
	var problems []string
	if err := e.IdentificativoSdI.CheckWS(); err != nil {
		problems = append(problems, err.Error())
	}
	if e.Esito != EC01 && e.Esito != EC02 {
		problems = append(problems, fmt.Sprintf("Esito %q: ammessi EC01 (accettazione) o EC02 (rifiuto) (Esito must be EC01 or EC02)", clip(e.Esito)))
	}
	if n := utf8.RuneCountInString(e.Descrizione); n > 255 {
		problems = append(problems, fmt.Sprintf("Descrizione di %d caratteri, massimo 255 (Descrizione longer than 255)", n))
	}
	if n := len(e.MessageIdCommittente); n > 14 {
		problems = append(problems, fmt.Sprintf("MessageIdCommittente di %d caratteri, massimo 14 (longer than 14)", n))
	}
	if r := e.RiferimentoFattura; r != nil {
		if r.NumeroFattura == "" || len(r.NumeroFattura) > 20 || !basicLatin(r.NumeroFattura) {
			problems = append(problems, fmt.Sprintf("NumeroFattura %q: da 1 a 20 caratteri latini di base (1 to 20 basic Latin characters)", clip(r.NumeroFattura)))
		}
		if r.AnnoFattura < 0 || r.AnnoFattura > 9999 {
			problems = append(problems, fmt.Sprintf("AnnoFattura %d non valido (invalid year)", r.AnnoFattura))
		}
		if r.PosizioneFattura < 0 {
			problems = append(problems, "PosizioneFattura negativa (negative position)")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("esito committente non valido (invalid EC): %s", strings.Join(problems, "; "))
	}
	return nil
}

func basicLatin(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
