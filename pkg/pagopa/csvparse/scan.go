// Package csvparse reads debt-position files in GovPay's default "tracciato" layout and
// in MyPay's import layout (versions 1.0–1.4) as a stream of rows, each either a position
// with the action it asks (insert, update, cancel) or the reason it is refused. It holds
// one record in memory at a time (plus an 8-byte hash per id, to refuse ids repeated in
// the file) and bounds the size of a record. Storing the rows is package csvload's job.
//
// Per layout:
//   - GovPay (comma-separated, header with named columns): a row is inserted or, when its
//     idPendenza exists and can still change, updated; importo 0 cancels the pendenza.
//   - MyPay (semicolon-separated, columns by position): azione I inserts (an existing IUD
//     with different data is refused), M modifies an existing IUD, A cancels it. MyPay
//     files carry no IBAN: the ente's configured IBAN (per tipoDovuto) is used.
package csvparse

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/position"
)

// Format of a file.
type Format string

const (
	GovPay Format = "govpay"
	MyPay  Format = "mypay"
)

// Options tune a Scanner.
type Options struct {
	Format         Format // empty: recognised from the header
	MaxRecordBytes int    // longest accepted row (default 64 KiB)
	Name           string // the file's name, for errors
	// StampCategory is the taxonomy code (transferCategory) given to a digital stamp voce
	// that names none (GovPay layout); without it such a row is refused.
	StampCategory string
}

// FileError is a problem with the whole file (header, layout, unreadable): nothing
// after it can be read.
type FileError struct {
	Name   string
	Line   int
	Reason string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s, riga %d: %s", e.Name, e.Line, e.Reason)
	}
	return e.Name + ": " + e.Reason
}

// Action is what a row asks.
type Action int

const (
	Put    Action = iota // insert, or update when it exists (GovPay)
	Insert               // insert only (MyPay I)
	Update               // update only (MyPay M)
	Cancel               // cancel (GovPay importo 0, MyPay A)
)

// Row is one row of the file.
type Row struct {
	Line     int    // line where the row starts
	ID       string // IUPD (idPendenza, IUD); may be empty on unreadable rows
	Action   Action
	Position *position.Position // for Put, Insert, Update
	Err      string             // why the row is refused, Italian then English; empty when good
}

type parser interface {
	parse(rec []string, line int) *Row
}

// Scanner reads a file row by row.
type Scanner struct {
	o        Options
	lim      *capReader
	cr       *csv.Reader
	p        parser
	format   Format
	seen     *idSet
	lastLine int
}

// Format is the layout of the file.
func (s *Scanner) Format() Format { return s.format }

// Comma is the file's separator.
func (s *Scanner) Comma() rune { return s.cr.Comma }

// NewScanner recognises the layout and reads the header; a *FileError says why the
// file cannot be read at all.
func NewScanner(r io.Reader, e *pagopa.Ente, o Options) (*Scanner, error) {
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 64 << 10
	}
	if o.Name == "" {
		o.Name = "file CSV"
	}
	lim := &capReader{r: r, limit: int64(o.MaxRecordBytes) + 128<<10}
	br := bufio.NewReaderSize(lim, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	first, err := br.Peek(4096)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, &FileError{Name: o.Name, Reason: fmt.Sprintf("lettura non riuscita: %v (read failed)", err)}
	}
	headLine := string(first)
	if i := strings.IndexAny(headLine, "\r\n"); i >= 0 {
		headLine = headLine[:i]
	}
	if strings.TrimSpace(headLine) == "" {
		return nil, &FileError{Name: o.Name, Line: 1, Reason: "file vuoto o senza intestazione (empty file or no header)"}
	}
	f := o.Format
	if f == "" {
		f = detect(headLine)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	switch f {
	case GovPay:
		cr.Comma = ','
	case MyPay:
		cr.Comma = ';'
	default:
		return nil, &FileError{Name: o.Name, Line: 1, Reason: "tracciato non riconosciuto: l'intestazione deve iniziare con idA2A,idPendenza (GovPay) o IUD;codIuv (MyPay) " +
			"(unknown layout: the header must start like GovPay's or MyPay's)"}
	}
	header, err := cr.Read()
	if err != nil {
		return nil, &FileError{Name: o.Name, Line: 1, Reason: fmt.Sprintf("intestazione illeggibile: %v (unreadable header)", err)}
	}
	var p parser
	if f == GovPay {
		p, err = newGovPay(header, e, o.StampCategory)
	} else {
		p, err = newMyPay(header, e)
	}
	if err != nil {
		return nil, &FileError{Name: o.Name, Line: 1, Reason: err.Error()}
	}
	return &Scanner{o: o, lim: lim, cr: cr, p: p, format: f, seen: newIDSet(), lastLine: 1}, nil
}

// Next returns the next non-blank row, nil at the end, or a *FileError when the rest of
// the file cannot be read.
func (s *Scanner) Next() (*Row, error) {
	for {
		s.lim.limit = s.cr.InputOffset() + int64(s.o.MaxRecordBytes) + 128<<10
		rec, err := s.cr.Read()
		if err == io.EOF {
			return nil, nil
		}
		var rw *Row
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && !errors.Is(err, errTooLong):
			rw = &Row{Line: pe.StartLine, Err: fmt.Sprintf("riga non leggibile come CSV: %v (malformed CSV)", pe.Err)}
			s.lastLine = pe.Line
		case errors.Is(err, errTooLong):
			return nil, &FileError{Name: s.o.Name, Line: s.lastLine + 1, Reason: fmt.Sprintf("riga oltre %d byte (o virgolette non chiuse): il file è interrotto qui, "+
				"correggerlo e ricaricarlo (row longer than %d bytes or unclosed quote: file stopped here)", s.o.MaxRecordBytes, s.o.MaxRecordBytes)}
		case err != nil:
			return nil, &FileError{Name: s.o.Name, Line: s.lastLine + 1, Reason: fmt.Sprintf("lettura interrotta: %v; le righe seguenti non sono state caricate (read stopped: later rows not loaded)", err)}
		default:
			line, _ := s.cr.FieldPos(0)
			s.lastLine = line
			if blank(rec) {
				continue
			}
			rw = s.p.parse(rec, line)
		}
		if rw.Err == "" && rw.ID != "" && !s.seen.add(rw.ID) {
			rw.Err = fmt.Sprintf("identificativo %s ripetuto nel file: vale solo la prima riga (id repeated in the file)", rw.ID)
		}
		return rw, nil
	}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func detect(header string) Format {
	h := strings.ToLower(strings.TrimSpace(header))
	switch {
	case strings.HasPrefix(h, "ida2a,"), strings.HasPrefix(h, `"ida2a",`):
		return GovPay
	case strings.HasPrefix(h, "iud;"), strings.HasPrefix(h, `"iud";`):
		return MyPay
	}
	return ""
}

// errTooLong marks a record beyond the size limit.
var errTooLong = errors.New("record too long")

// capReader fails a read that would go beyond limit: it bounds the bytes encoding/csv
// buffers for one record (a missing closing quote would otherwise swallow the file).
type capReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		return 0, errTooLong
	}
	if rem := c.limit - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// idSet remembers the ids seen in a file as 64-bit hashes (8 bytes each, about 16 MB for
// a million rows): the only memory that grows with the file.
type idSet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newIDSet() *idSet { return &idSet{seed: maphash.MakeSeed(), m: map[uint64]struct{}{}} }

func (s *idSet) add(id string) bool {
	h := maphash.String(s.seed, id)
	if _, ok := s.m[h]; ok {
		return false
	}
	s.m[h] = struct{}{}
	return true
}
