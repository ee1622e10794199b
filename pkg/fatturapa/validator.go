// Package fatturapa checks FatturaPA files as the SdI does, offline, so that a file
// the SdI would reject is stopped before it leaves with the SdI's own code, and then
// applies an ente's own pre-validation rules (package rules), whose failures become
// the ente's rejection (EC02).
//
// A Validator runs, in the SdI's order: the file name (00001, and 00002 against the
// journal), the size (00003), the envelope (a .zip lot opened safely, each invoice
// file in it checked on its own; a .xml.p7m CAdES or XAdES signature verified; 00100-
// 00107), the XSD (00200, at most 50 then 00201), the content checks (CheckContent:
// the 003xx and 004xx codes decidable offline, all reported together), duplicates
// against the journal (00404, through History), then the ente's rules. Each step that
// fails at file level stops the ones after it, as at the SdI.
//
// Sub-packages: filename (naming rules, progressives), archive (zip lots), invoice
// (the parsed document), taxid (check digits), xmltree (the line-aware parser), rules
// (ente pre-validation).
package fatturapa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"snodo/pkg/fatturapa/archive"
	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/fatturapa/invoice"
	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/fatturapa/xmltree"
	"snodo/pkg/signature"
	"snodo/pkg/xmlsafe"
	"snodo/pkg/xsd"
	sdixsd "snodo/xsd/sdi"
)

// MaxFileSize is the SdI's size limit for one file on SDICoop, "5MB" (00003). Allegato
// A does not say whether 10^6 or 2^20 bytes; the larger reading is used so the hub never
// stops a file the SdI accepts.
const MaxFileSize = 5 << 20

// History is what the duplicate checks need from the journal of files the hub has
// already sent or received. The store implements it.
type History interface {
	// FileNameSeen reports whether a file with this name was already transmitted
	// (00002 "Nome file duplicato"); names compare exactly.
	FileNameSeen(ctx context.Context, name string) (bool, error)
	// InvoiceSeen reports whether an invoice with this key was already transmitted
	// and neither rejected by the SdI nor refused by its recipient (00404 "Fattura
	// duplicata"). InvoiceKey.Duplicates implements the SdI's comparison.
	InvoiceSeen(ctx context.Context, key InvoiceKey) (bool, error)
}

// Schema is the XSD step; *xsd.Schema satisfies it.
type Schema interface {
	Validate(name string, doc []byte, maxErrors int) error
}

// Config configures a Validator. The zero value is usable.
type Config struct {
	// Schema validates invoices; nil compiles the embedded FatturaPA 1.2.3 schema.
	Schema Schema
	// Signatures verifies signed files (CAdES .xml.p7m, XAdES .xml). Nil checks the
	// integrity of every signature (content and signature value) but no certificate
	// chain: set a Verifier with trust anchors for 00100, 00101, 00104, 00107.
	Signatures SignatureVerifier
	// History enables the duplicate checks against the journal (00002, 00404).
	History History
	// MaxFileSize is the size limit (00003); default MaxFileSize.
	MaxFileSize int64
	// Archive bounds what a .zip lot may hold.
	Archive archive.Limits
	// Logger receives one debug line per validation; nil discards.
	Logger *slog.Logger
}

// Options tunes one validation.
type Options struct {
	// ReceivedAt is when the SdI receives (or received) the file; zero is now. See
	// CheckOptions.
	ReceivedAt time.Time
	// SkipFileName skips the name checks (00001, 00002): for an invoice the hub will
	// name itself before sending (active cycle).
	SkipFileName bool
	// SkipTaxIDs skips the check digits of Italian identifiers: see CheckOptions.
	SkipTaxIDs bool
	// Rules are the ente's pre-validation rules, applied last; nil applies none.
	Rules *rules.RuleSet
}

// Validator validates FatturaPA files. Create it once with New; it is safe for
// concurrent use.
type Validator struct {
	schema  Schema
	sigs    SignatureVerifier
	history History
	maxSize int64
	archive archive.Limits
	log     *slog.Logger
}

// New builds a Validator, compiling the embedded FatturaPA schema when cfg.Schema is nil.
func New(cfg Config) (*Validator, error) {
	v := &Validator{schema: cfg.Schema, sigs: cfg.Signatures, history: cfg.History, maxSize: cfg.MaxFileSize, archive: cfg.Archive, log: cfg.Logger}
	if v.schema == nil {
		s, err := xsd.Compile(sdixsd.FS, sdixsd.FatturaPA123)
		if err != nil {
			return nil, fmt.Errorf("fatturapa: compile %s: %w", sdixsd.FatturaPA123, err)
		}
		v.schema = s
	}
	if v.sigs == nil {
		v.sigs = &signature.Verifier{IntegrityOnly: true}
	}
	if v.maxSize <= 0 {
		v.maxSize = MaxFileSize
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Validate checks one file, named name, as the SdI would, then against opts.Rules.
// It never panics on hostile input; the Report says what failed.
func (v *Validator) Validate(ctx context.Context, name string, data []byte, opts Options) *Report {
	if opts.ReceivedAt.IsZero() {
		opts.ReceivedAt = time.Now()
	}
	r := v.validate(ctx, name, data, opts, false)
	v.log.DebugContext(ctx, "fatturapa: validated", "file", name, "valid", r.AllValid(), "errors", len(r.Errors), "members", len(r.Members))
	return r
}

func (v *Validator) validate(ctx context.Context, name string, data []byte, opts Options, inArchive bool) *Report {
	r := &Report{File: name, Errors: []Error{}}
	defer func() { r.Valid = len(r.Errors) == 0 && r.Err == nil }()
	if err := ctx.Err(); err != nil {
		r.Err = fmt.Errorf("fatturapa: validate %s: %w", name, err)
		return r
	}
	isZip := strings.HasSuffix(strings.ToLower(name), filename.ExtZIP)
	// 1. name (00001) and uniqueness of the name (00002)
	if !opts.SkipFileName {
		n, err := filename.ParseInvoice(name)
		if err != nil {
			var fe *filename.Error
			if errors.As(err, &fe) {
				r.fail(CodeNomeFile, fe.Reason)
			} else {
				r.fail(CodeNomeFile, err.Error())
			}
			return r
		}
		if inArchive && n.IsArchive() {
			r.fail(CodeNomeFile, "un archivio non può contenere un altro archivio (an archive cannot hold another archive)")
			return r
		}
		if v.history != nil {
			seen, err := v.history.FileNameSeen(ctx, name)
			if err != nil {
				r.Err = fmt.Errorf("fatturapa: validate %s: journal lookup of the file name: %w", name, err)
				return r
			}
			if seen {
				r.fail(CodeNomeFileDuplicato, fmt.Sprintf("un file di nome %s è già stato trasmesso: usare un nuovo progressivo "+
					"(a file named %s was already sent: use a new progressive)", name, name))
				return r
			}
		}
	}
	// 2. size (00003) and emptiness (00106)
	if int64(len(data)) > v.maxSize {
		r.fail(CodeDimensioni, fmt.Sprintf("%d byte, limite %d (file of %d bytes, limit %d)", len(data), v.maxSize, len(data), v.maxSize))
		return r
	}
	if len(bytes.TrimSpace(data)) == 0 {
		r.fail(CodeFileCorrotto, "file vuoto (empty file)")
		return r
	}
	// 3. envelope
	if isZip {
		r.Envelope = "zip"
		entries, err := archive.Read(name, data, v.archive)
		if err != nil {
			var ae *archive.Error
			if errors.As(err, &ae) {
				reason := ae.Reason
				if ae.Entry != "" {
					reason = fmt.Sprintf("voce %q: %s", ae.Entry, ae.Reason)
				}
				r.fail(CodeFileCorrotto, reason)
			} else {
				r.fail(CodeFileCorrotto, err.Error())
			}
			return r
		}
		for _, e := range entries {
			r.Members = append(r.Members, v.validate(ctx, e.Name, e.Data, opts, true))
		}
		return r
	}
	content, ok := v.open(r, name, data, opts)
	if !ok {
		return r
	}
	r.Content = content
	// The invoice is parsed while libxml2 validates it: both read the same bytes, the
	// parse is needed only if the schema passes, and doing both at once takes a
	// validation's latency down to the schema's (the CPU work is the same; on an
	// invalid file the parse is wasted).
	type parsed struct {
		inv *invoice.Invoice
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		inv, err := invoice.Parse(name, content)
		done <- parsed{inv, err}
	}()
	// 4. format (00200, 00201)
	if !v.schemaCheck(r, name, content) {
		return r
	}
	// 5. content
	p := <-done
	inv, err := p.inv, p.err
	if err != nil {
		r.Errors = append(r.Errors, parseFailure(err))
		return r
	}
	if inv.Namespace != invoice.Namespace12 {
		r.Errors = append(r.Errors, Error{Code: CodeFormato, Message: fmt.Sprintf("%s: namespace %q dell'elemento radice, atteso %q (root namespace is not FatturaPA 1.2)",
			descriptions[CodeFormato], inv.Namespace, invoice.Namespace12), Path: inv.Root.Path(), Line: inv.Root.Line})
		return r
	}
	r.Invoice = inv
	r.Errors = append(r.Errors, CheckContent(inv, CheckOptions{ReceivedAt: opts.ReceivedAt, SkipTaxIDs: opts.SkipTaxIDs})...)
	// 6. duplicates against the journal (00404)
	if v.history != nil {
		for i, key := range Keys(inv) {
			seen, err := v.history.InvoiceSeen(ctx, key)
			if err != nil {
				r.Err = fmt.Errorf("fatturapa: validate %s: journal lookup of invoice %s: %w", name, key.Numero, err)
				return r
			}
			if seen {
				b := inv.Bodies[i]
				n := b.Node.Find("DatiGenerali/DatiGeneraliDocumento/Numero")
				r.Errors = append(r.Errors, Error{Code: CodeFatturaDuplicata, Path: n.Path(), Line: n.Line,
					Message: fmt.Sprintf("%s: la fattura numero %s del %s di %s è già stata trasmessa (invoice already sent)",
						descriptions[CodeFatturaDuplicata], b.Numero, b.Data, key.Cedente)})
			}
		}
	}
	// 7. the ente's rules (EC02)
	if opts.Rules != nil {
		for _, f := range opts.Rules.Evaluate(inv) {
			r.Errors = append(r.Errors, Error{Code: CodeEsitoCommittente, Message: f.Message, Path: f.Path, Line: f.Line, Rule: f.Rule})
		}
	}
	return r
}

// schemaCheck runs the XSD and records its failures; it reports whether the document
// is valid.
func (v *Validator) schemaCheck(r *Report, name string, content []byte) bool {
	err := v.schema.Validate(name, content, MaxFormatErrors)
	if err == nil {
		return true
	}
	var ve *xsd.ValidationError
	var pe *xsd.ParseError
	var se *xmlsafe.Error
	switch {
	case errors.As(err, &ve):
		for _, vi := range ve.Violations {
			r.Errors = append(r.Errors, Error{Code: CodeFormato, Message: descriptions[CodeFormato] + ": " + vi.Message, Path: vi.Path, Line: vi.Line})
		}
		if ve.Truncated {
			r.fail(CodeTroppiErrori, "")
		}
	case errors.As(err, &pe):
		r.Errors = append(r.Errors, Error{Code: CodeFormato, Line: pe.Line,
			Message: fmt.Sprintf("%s: XML non ben formato, riga %d colonna %d: %s (not well-formed XML)", descriptions[CodeFormato], pe.Line, pe.Column, pe.Message)})
	case errors.As(err, &se):
		if errors.Is(se, xmlsafe.ErrEmpty) {
			r.fail(CodeFileCorrotto, se.Reason)
		} else {
			r.fail(CodeFormato, se.Reason)
		}
	default:
		r.Err = fmt.Errorf("fatturapa: validate %s: schema: %w", name, err)
	}
	return false
}

// parseFailure turns an error of the invoice parser into a format error.
func parseFailure(err error) Error {
	var se *xmltree.SyntaxError
	var ie *invoice.Error
	switch {
	case errors.As(err, &se):
		return Error{Code: CodeFormato, Line: se.Line, Message: descriptions[CodeFormato] + ": " + se.Msg}
	case errors.As(err, &ie):
		return Error{Code: CodeFormato, Line: ie.Line, Message: descriptions[CodeFormato] + ": " + ie.Reason}
	}
	return Error{Code: CodeFormato, Message: descriptions[CodeFormato] + ": " + err.Error()}
}
