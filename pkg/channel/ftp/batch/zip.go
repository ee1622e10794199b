package batch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"snodo/pkg/channel"
)

// Entry is a file to put in a zip; Open is called once, when the entry is written.
type Entry struct {
	Name string
	Size int64 // uncompressed size, used to plan splits
	Open func() (io.ReadCloser, error)
}

// BytesEntry returns an entry holding data.
func BytesEntry(name string, data []byte) Entry {
	return Entry{Name: name, Size: int64(len(data)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

// WriteZip writes the entries, then the quadratura q under the name quadName, to w.
// q.NumeroFile must count the entries (see CountNames); WriteZip checks it.
func WriteZip(w io.Writer, q *Quadratura, quadName string, entries []Entry, modified time.Time) error {
	names := make([]string, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		if err := CheckEntryName(e.Name); err != nil {
			return err
		}
		if seen[e.Name] || e.Name == quadName {
			return fmt.Errorf("batch: %s due volte nello stesso zip (file twice in one zip)", e.Name)
		}
		seen[e.Name] = true
		names[i] = e.Name
	}
	if c := CountNames(names); c != q.NumeroFile {
		return fmt.Errorf("batch: la quadratura di %s non conta i file dello zip (quadratura counts do not match the entries)", q.NomeSupporto)
	}
	quad, err := q.Marshal()
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, e := range entries {
		if err := writeEntry(zw, e, modified); err != nil {
			return err
		}
	}
	if err := writeEntry(zw, BytesEntry(quadName, quad), modified); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("batch: chiusura zip %s: %w", q.NomeSupporto, err)
	}
	return nil
}

func writeEntry(zw *zip.Writer, e Entry, modified time.Time) error {
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: modified})
	if err != nil {
		return fmt.Errorf("batch: zip %s: %w", e.Name, err)
	}
	rc, err := e.Open()
	if err != nil {
		return fmt.Errorf("batch: apertura di %s: %w", e.Name, err)
	}
	defer rc.Close()
	if _, err := io.Copy(fw, rc); err != nil {
		return fmt.Errorf("batch: compressione di %s: %w", e.Name, err)
	}
	return nil
}

// Group is a set of files that must travel in the same zip (the files of one
// delivery).
type Group struct {
	Size  int64 // summed uncompressed size
	Names []string
}

// Plan splits groups into zips: it returns, for each zip, the indexes of its groups, in
// order. A zip is closed when the next group would take its summed uncompressed size
// over max (compressed, it is smaller) or would repeat a file name already in it (the
// later file then travels in the next zip, as IntermediaMarche does). A group larger
// than max gets a zip of its own.
func Plan(groups []Group, max int64) [][]int {
	var out [][]int
	var cur []int
	var sum int64
	names := map[string]bool{}
	for i, g := range groups {
		clash := false
		for _, n := range g.Names {
			clash = clash || names[n]
		}
		if len(cur) > 0 && (sum+g.Size > max || clash) {
			out = append(out, cur)
			cur, sum = nil, 0
			clear(names)
		}
		cur = append(cur, i)
		sum += g.Size
		for _, n := range g.Names {
			names[n] = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// CheckEntryName refuses a zip entry name that is not a plain file name.
func CheckEntryName(name string) error {
	if strings.HasSuffix(name, "/") {
		return fmt.Errorf("batch: %q è una cartella: lo zip deve contenere solo file (folders are not allowed in a supporto)", clip(name))
	}
	if err := channel.SafeFileName(name); err != nil {
		return fmt.Errorf("batch: voce dello zip: %w", err)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("batch: nome %q non in UTF-8 (name is not UTF-8)", clip(name))
	}
	return nil
}

// Limits bound what a received zip may hold.
type Limits struct {
	MaxEntries   int   // entries in the zip (default 10000)
	MaxEntrySize int64 // uncompressed bytes of one entry (default 32 MiB)
	MaxTotal     int64 // uncompressed bytes of all entries (default 1 GiB)
	// MaxRatio caps uncompressed/compressed for entries above 1 MiB (default 200): real
	// invoices compress 5 to 30 times, zip bombs a thousand.
	MaxRatio int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 10000
	}
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = 32 << 20
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = 1 << 30
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = 200
	}
	return l
}

const ratioFloor = 1 << 20

// Refusal says why a supporto is refused (outcome ET02). Reasons are in Italian, then
// English, each naming the entry concerned.
type Refusal struct {
	Name    string
	Reasons []string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("batch: supporto %s rifiutato (refused): %s", r.Name, strings.Join(r.Reasons, "; "))
}

// maxReasons bounds the reasons listed for one zip.
const maxReasons = 30

func (r *Refusal) add(format string, args ...any) {
	if len(r.Reasons) < maxReasons {
		r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
	} else if len(r.Reasons) == maxReasons {
		r.Reasons = append(r.Reasons, "… altri problemi omessi (more problems omitted)")
	}
}

// File is an entry of a checked supporto.
type File struct {
	Name string
	Type FileType
	Size int64
	zf   *zip.File
	max  int64
}

// ReadAll returns the content of the entry, bounded by the limit it was checked with.
func (f *File) ReadAll() ([]byte, error) {
	rc, err := f.zf.Open()
	if err != nil {
		return nil, fmt.Errorf("batch: lettura di %s: %w", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, f.max+1))
	if err != nil {
		return nil, fmt.Errorf("batch: lettura di %s: %w", f.Name, err)
	}
	if int64(len(data)) > f.max {
		return nil, fmt.Errorf("batch: %s oltre %d byte (entry too large)", f.Name, f.max)
	}
	return data, nil
}

// Checked is a zip that passed every check: its quadratura and its other files.
type Checked struct {
	Name           string
	Quadratura     *Quadratura
	QuadraturaName string
	Files          []*File // in zip order, quadratura excluded
}

// Check reads the zip name (size bytes from r) and checks it against its quadratura:
// structure and limits, exactly one quadratura valid against the XSD, NomeSupporto
// naming the zip, and the count of every file type. A *Refusal lists every problem
// found; any other error means the zip could not be read (retry). Entries are streamed
// once to verify them; their content is read again with File.ReadAll.
func Check(name string, r io.ReaderAt, size int64, lim Limits) (*Checked, error) {
	lim = lim.withDefaults()
	ref := &Refusal{Name: name}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		ref.add("non è un file zip leggibile: %v (not a readable zip file)", err)
		return nil, ref
	}
	if len(zr.File) > lim.MaxEntries {
		ref.add("%d file nello zip, il massimo è %d: dividere il supporto (too many entries)", len(zr.File), lim.MaxEntries)
		return nil, ref
	}
	out := &Checked{Name: name}
	seen := map[string]bool{}
	var quads []*zip.File
	var total int64
	var inZip Counts
	for _, zf := range zr.File {
		if err := CheckEntryName(zf.Name); err != nil {
			ref.add("%v", strings.TrimPrefix(err.Error(), "batch: "))
			continue
		}
		if seen[zf.Name] {
			ref.add("%s compare due volte nello zip (entry appears twice)", zf.Name)
			continue
		}
		seen[zf.Name] = true
		if zf.Flags&0x1 != 0 {
			ref.add("%s è cifrato: inviare file non cifrati (encrypted entries are not accepted)", zf.Name)
			continue
		}
		if zf.Method != zip.Store && zf.Method != zip.Deflate {
			ref.add("%s usa il metodo di compressione %d: usare deflate (compression method not supported)", zf.Name, zf.Method)
			continue
		}
		if zf.UncompressedSize64 > uint64(lim.MaxEntrySize) {
			ref.add("%s dichiara %d byte, oltre il limite di %d (entry too large)", zf.Name, zf.UncompressedSize64, lim.MaxEntrySize)
			continue
		}
		n, err := verifyEntry(zf, lim, lim.MaxTotal-total)
		total += n
		if err != nil {
			ref.add("%s: %v", zf.Name, err)
			if total > lim.MaxTotal {
				break
			}
			continue
		}
		if IsQuadraturaName(zf.Name) {
			quads = append(quads, zf)
			continue
		}
		t := Classify(zf.Name)
		inZip.Add(t)
		out.Files = append(out.Files, &File{Name: zf.Name, Type: t, Size: n, zf: zf, max: lim.MaxEntrySize})
	}
	switch {
	case len(quads) == 0:
		ref.add("manca il file di quadratura FI.<…>.xml (no quadratura file in the zip)")
	case len(quads) > 1:
		names := make([]string, len(quads))
		for i, q := range quads {
			names[i] = q.Name
		}
		ref.add("più file di quadratura: %s; ne serve uno solo (more than one quadratura file)", strings.Join(names, ", "))
	default:
		out.QuadraturaName = quads[0].Name
		data, err := (&File{Name: quads[0].Name, zf: quads[0], max: MaxXMLSize}).ReadAll()
		if err != nil {
			ref.add("%v", err)
			break
		}
		q, err := ParseQuadratura(quads[0].Name, data)
		if err != nil {
			ref.add("quadratura %v", err)
			break
		}
		out.Quadratura = q
		want := strings.TrimSuffix(name, DoneSuffix)
		if q.NomeSupporto != want && q.NomeSupporto != name {
			ref.add("la quadratura indica NomeSupporto %q ma lo zip si chiama %q (NomeSupporto does not name this zip)", clip(q.NomeSupporto), want)
		}
		for t := range numTypes {
			if q.NumeroFile[t] != inZip[t] {
				ref.add("%s: la quadratura ne dichiara %d, lo zip ne contiene %d (count mismatch)", t, q.NumeroFile[t], inZip[t])
			}
		}
	}
	if len(ref.Reasons) > 0 {
		return nil, ref
	}
	return out, nil
}

// verifyEntry inflates an entry once, checking the size, ratio and total budget limits;
// archive/zip checks the CRC and the declared size at the end. It returns the bytes
// inflated.
func verifyEntry(zf *zip.File, lim Limits, budget int64) (int64, error) {
	rc, err := zf.Open()
	if err != nil {
		return 0, fmt.Errorf("non leggibile: %v (cannot be read)", err)
	}
	defer rc.Close()
	limit := lim.MaxEntrySize
	if budget < limit {
		limit = max(budget, 0)
	}
	var n int64
	buf := make([]byte, 32<<10)
	for {
		k, err := rc.Read(buf)
		n += int64(k)
		if n > limit {
			if limit < lim.MaxEntrySize {
				return n, fmt.Errorf("i file dello zip superano in totale %d byte (total uncompressed size over the limit)", lim.MaxTotal)
			}
			return n, fmt.Errorf("oltre %d byte decompresso (entry too large)", lim.MaxEntrySize)
		}
		if n > ratioFloor && zf.CompressedSize64 > 0 && uint64(n)/zf.CompressedSize64 > uint64(lim.MaxRatio) {
			return n, fmt.Errorf("rapporto di compressione oltre %d:1, possibile zip bomb (compression ratio too high)", lim.MaxRatio)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("danneggiato: %v (corrupt entry)", err)
		}
	}
	return n, nil
}
