package fatturapa

import (
	"time"

	"snodo/pkg/fatturapa/invoice"
)

// Error is one reason a file fails: an SdI code (or EC02 for an ente's own rule), the
// message an operator reads (the SdI's wording first, then what was found), and where
// (the element's path and line, when the failure has an element).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Path    string `json:"path"`
	Line    int    `json:"line"`
	// Rule is the id of the ente rule that failed (Code EC02), "" otherwise.
	Rule string `json:"-"`
}

// Report is the verdict on one file, JSON-encoded as
// {"file":"…","valid":false,"errors":[{"code":"00423","message":"…","path":"…","line":12}]}.
//
// For an archive (.zip), Valid and Errors concern the archive itself (name, size,
// integrity) and Members holds one report per invoice file inside it, in archive
// order: the SdI accepts or rejects each file of an archive on its own.
type Report struct {
	File    string    `json:"file"`
	Valid   bool      `json:"valid"`
	Errors  []Error   `json:"errors"`
	Members []*Report `json:"members,omitempty"`

	// Err is set when the validation could not be completed (the journal could not be
	// read, the context ended, the schema is unusable): the file is then neither
	// accepted nor rejected, Valid is false, and the caller should retry.
	Err error `json:"-"`
	// Notes are remarks that are no failure, e.g. that a signature was not checked
	// against trust anchors (Italian first, then English).
	Notes []string `json:"-"`

	// Envelope is how the invoice travelled: "xml", "xades", "cades" or "zip".
	Envelope string `json:"-"`
	// Signer is the signer's certificate subject, "" when unsigned.
	Signer string `json:"-"`
	// SigningTime is the signing time the signer declared, zero when absent.
	SigningTime time.Time `json:"-"`
	// Content is the invoice XML (unwrapped from its signature envelope), nil for an
	// archive or when the file could not be opened.
	Content []byte `json:"-"`
	// Invoice is the parsed invoice, nil when the file did not get that far.
	Invoice *invoice.Invoice `json:"-"`
}

// AllValid reports whether the file and, for an archive, every file in it are valid.
func (r *Report) AllValid() bool {
	if !r.Valid {
		return false
	}
	for _, m := range r.Members {
		if !m.AllValid() {
			return false
		}
	}
	return true
}

// Codes lists the codes of the report's errors, in order (members excluded).
func (r *Report) Codes() []string {
	out := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		out[i] = e.Code
	}
	return out
}

func (r *Report) fail(code, detail string) {
	msg := descriptions[code]
	if detail != "" {
		msg += ": " + detail
	}
	r.Errors = append(r.Errors, Error{Code: code, Message: msg})
}
