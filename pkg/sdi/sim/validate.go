package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"snodo/pkg/fatturapa/archive"
	"snodo/pkg/sdi"
	"snodo/pkg/signature"
	"snodo/pkg/xmlsafe"
	"snodo/pkg/xsd"
	sdixsd "snodo/xsd/sdi"
)

// Verdict is the simulator's judgement of a file it received, as the SdI would give it.
type Verdict struct {
	// Errori lists the failed checks (SdI code and description); empty means accepted.
	Errori []sdi.Errore
	// Formato is the FormatoTrasmissione (FPA12, FPR12), "" when unreadable.
	Formato string
	// CodiceDestinatario is the recipient office code, "" when unreadable.
	CodiceDestinatario string
	// Fatture are the invoices of the file (number and year), for the simulated buyer's
	// Esito Committente.
	Fatture []sdi.RiferimentoFattura
}

// Validator judges a received file. The project's validator (snodo/pkg/fatturapa) can
// be adapted to it; [NewBasicValidator] is the built-in one.
type Validator interface {
	// Validate returns the verdict; an error means the file could not be judged (the
	// simulator then answers RiceviFile with EI02, as an SdI in trouble would).
	Validate(ctx context.Context, name string, data []byte) (*Verdict, error)
}

// BasicValidator runs the SdI checks that need no external data: file name (00001),
// size (00003), empty or corrupt file and archive (00106), CAdES envelope readable
// (00106; signatures are not verified), XML schema FatturaPA 1.2.3 (00200, at most 50
// then 00201). Duplicate file names (00002) are checked by the simulator itself.
type BasicValidator struct {
	schema *xsd.Schema
}

// NewBasicValidator compiles the embedded FatturaPA schema.
func NewBasicValidator() (*BasicValidator, error) {
	s, err := xsd.Compile(sdixsd.FS, sdixsd.FatturaPA123)
	if err != nil {
		return nil, fmt.Errorf("sim: compile %s: %w", sdixsd.FatturaPA123, err)
	}
	return &BasicValidator{schema: s}, nil
}

var invoiceName = regexp.MustCompile(`^[A-Z]{2}[A-Za-z0-9]{2,28}_[A-Za-z0-9]{1,5}\.(?i:xml|xml\.p7m|zip)$`)

// Validate implements Validator.
func (v *BasicValidator) Validate(ctx context.Context, name string, data []byte) (*Verdict, error) {
	out := &Verdict{}
	fail := func(code, descr string) (*Verdict, error) {
		out.Errori = append(out.Errori, sdi.Errore{Codice: code, Descrizione: descr})
		return out, nil
	}
	if !invoiceName.MatchString(name) || len(name) > 50 {
		return fail("00001", "Nome file non valido: atteso <Paese><IdCodice>_<progressivo>.xml|.xml.p7m|.zip")
	}
	if len(data) > sdi.MaxFileBytes {
		return fail("00003", fmt.Sprintf("Le dimensioni del file superano quelle ammesse (%d byte, limite %d)", len(data), sdi.MaxFileBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fail("00106", "File vuoto")
	}
	if strings.HasSuffix(strings.ToLower(name), ".zip") {
		entries, err := archive.Read(name, data, archive.Limits{MaxEntrySize: sdi.MaxFileBytes})
		if err != nil {
			return fail("00106", "File archivio corrotto: "+err.Error())
		}
		if len(entries) == 0 {
			return fail("00106", "File archivio vuoto")
		}
		for _, e := range entries {
			ev, err := v.Validate(ctx, e.Name, e.Data)
			if err != nil {
				return nil, err
			}
			if out.Formato == "" {
				out.Formato, out.CodiceDestinatario = ev.Formato, ev.CodiceDestinatario
			}
			for _, er := range ev.Errori {
				er.Descrizione = e.Name + ": " + er.Descrizione
				out.Errori = append(out.Errori, er)
			}
			out.Fatture = append(out.Fatture, ev.Fatture...)
		}
		return out, nil
	}
	_, content, err := signature.Unwrap(name, data)
	if err != nil {
		return fail("00106", "File non leggibile: "+err.Error())
	}
	if err := xmlsafe.Check(name, content, sdi.MaxFileBytes); err != nil {
		return fail("00200", "File non conforme al formato: "+err.Error())
	}
	readHeader(content, out)
	if err := v.schema.Validate(name, content, 50); err != nil {
		var ve *xsd.ValidationError
		var pe *xsd.ParseError
		switch {
		case errors.As(err, &ve):
			for _, viol := range ve.Violations {
				out.Errori = append(out.Errori, sdi.Errore{Codice: "00200", Descrizione: clip255(fmt.Sprintf("File non conforme al formato: riga %d %s: %s", viol.Line, viol.Path, viol.Message))})
			}
			if ve.Truncated {
				out.Errori = append(out.Errori, sdi.Errore{Codice: "00201", Descrizione: "Riscontrati più di 50 errori di formato"})
			}
		case errors.As(err, &pe):
			out.Errori = append(out.Errori, sdi.Errore{Codice: "00200", Descrizione: clip255("File non conforme al formato: " + pe.Error())})
		default:
			var xe *xmlsafe.Error
			if errors.As(err, &xe) {
				return fail("00200", clip255("File non conforme al formato: "+xe.Error()))
			}
			return nil, fmt.Errorf("sim: validate %s: %w", name, err)
		}
	}
	return out, nil
}

// readHeader extracts FormatoTrasmissione, CodiceDestinatario and the invoices' number
// and year, whatever the namespace prefix.
func readHeader(doc []byte, v *Verdict) {
	var f struct {
		Header struct {
			Dati struct {
				Formato string `xml:"FormatoTrasmissione"`
				Codice  string `xml:"CodiceDestinatario"`
			} `xml:"DatiTrasmissione"`
		} `xml:"FatturaElettronicaHeader"`
		Body []struct {
			Numero string `xml:"DatiGenerali>DatiGeneraliDocumento>Numero"`
			Data   string `xml:"DatiGenerali>DatiGeneraliDocumento>Data"`
		} `xml:"FatturaElettronicaBody"`
	}
	if xml.Unmarshal(doc, &f) != nil {
		return
	}
	v.Formato = strings.TrimSpace(f.Header.Dati.Formato)
	v.CodiceDestinatario = strings.TrimSpace(f.Header.Dati.Codice)
	for i, b := range f.Body {
		r := sdi.RiferimentoFattura{NumeroFattura: strings.TrimSpace(b.Numero)}
		if len(b.Data) >= 4 {
			fmt.Sscanf(b.Data[:4], "%d", &r.AnnoFattura)
		}
		if len(f.Body) > 1 {
			r.PosizioneFattura = i + 1
		}
		v.Fatture = append(v.Fatture, r)
	}
}

func clip255(s string) string {
	r := []rune(s)
	if len(r) > 255 {
		return string(r[:254]) + "…"
	}
	return s
}
