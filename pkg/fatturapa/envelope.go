package fatturapa

import (
	"errors"
	"strings"
	"time"

	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/fatturapa/xmltree"
	"snodo/pkg/signature"
	"snodo/pkg/xmlsafe"
)

// SignatureVerifier verifies a signed file and returns its content;
// *signature.Verifier satisfies it.
type SignatureVerifier interface {
	Verify(name string, data []byte) (*signature.Result, error)
}

// verifierAt returns the verifier checking times against the reception time (00105:
// a signing time after the SdI received the file).
func (v *Validator) verifierAt(at time.Time) SignatureVerifier {
	if sv, ok := v.sigs.(*signature.Verifier); ok && !at.IsZero() {
		c := *sv
		c.Now = func() time.Time { return at }
		return &c
	}
	return v.sigs
}

// open unwraps and verifies the envelope of an invoice file and returns the invoice
// XML; on failure it records the SdI code and returns false.
func (v *Validator) open(r *Report, name string, data []byte, opts Options) ([]byte, bool) {
	lower := strings.ToLower(name)
	wantCAdES := strings.HasSuffix(lower, filename.ExtP7M) || strings.HasSuffix(lower, ".p7m")
	format := signature.Detect(data)
	switch {
	case wantCAdES && format != signature.FormatCAdES:
		r.fail(CodeFileCorrotto, "il file .xml.p7m non contiene una busta CAdES (firma .p7m) leggibile: firmarlo in CAdES o rinominarlo .xml "+
			"(the .xml.p7m file holds no readable CAdES envelope)")
		return nil, false
	case !wantCAdES && format == signature.FormatCAdES && !opts.SkipFileName:
		r.fail(CodeFormato, "il file .xml contiene una busta CAdES: rinominarlo .xml.p7m (the .xml file holds a CAdES envelope: name it .xml.p7m)")
		return nil, false
	case format == signature.FormatUnknown:
		r.fail(CodeFileCorrotto, "il file non è né XML né una busta CAdES .p7m (the file is neither XML nor a CAdES envelope)")
		return nil, false
	}
	if format == signature.FormatPlain {
		r.Envelope = "xml"
		return data, true // nothing to verify: the XSD reads it
	}
	res, err := v.verifierAt(opts.ReceivedAt).Verify(name, data)
	if err != nil && format == signature.FormatXAdES && errors.Is(err, signature.ErrMalformed) && !wellFormed(name, data) {
		// Not well-formed XML is a format fault (00200), which the XSD step reports
		// with its line, not a signature one.
		r.Envelope = "xml"
		return data, true
	}
	if err != nil {
		var se *signature.Error
		reason := err.Error()
		if errors.As(err, &se) {
			reason = se.Reason
			if se.Err != nil {
				reason += ": " + se.Err.Error()
			}
		}
		if code := signature.CodeOf(err); code != "" {
			r.fail(code, reason)
			return nil, false
		}
		if errors.Is(err, signature.ErrUnsupported) {
			// Well formed but beyond what we can check: let the SdI decide on the
			// signature, and check the content.
			f, content, uerr := signature.Unwrap(name, data)
			if uerr == nil {
				r.Notes = append(r.Notes, "firma non verificabile qui, il Sistema di Interscambio la verificherà: "+reason+
					" (signature not verifiable here)")
				r.Envelope = envelopeName(f)
				return content, true
			}
		}
		if format == signature.FormatXAdES {
			// well-formed XML whose signature cannot be read: the signature is not valid
			r.fail(CodeFirmaNonValida, reason)
		} else {
			r.fail(CodeFileCorrotto, reason)
		}
		return nil, false
	}
	r.Envelope = envelopeName(res.Format)
	if res.Signer != nil {
		r.Signer = res.Signer.Subject.String()
		r.SigningTime = res.SigningTime
		if sv, ok := v.sigs.(*signature.Verifier); ok && sv.IntegrityOnly {
			r.Notes = append(r.Notes, "firma integra; certificato e catena non verificati: nessuna CA affidabile configurata "+
				"(signature intact; certificate chain not checked: no trust anchors configured)")
		}
	}
	return res.Content, true
}

func envelopeName(f signature.Format) string {
	switch f {
	case signature.FormatCAdES:
		return "cades"
	case signature.FormatXAdES:
		return "xades"
	}
	return "xml"
}

// wellFormed reports whether data passes the XML gate and parses.
func wellFormed(name string, data []byte) bool {
	if xmlsafe.Check(name, data, 0) != nil {
		return false
	}
	_, err := xmltree.Parse(name, data)
	return err == nil
}
