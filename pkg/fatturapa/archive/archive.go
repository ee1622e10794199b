// Package archive opens an SdI archive file (a .zip holding invoice files) safely.
//
// The SdI accepts a .zip of several invoice files and checks each file inside on its
// own. An archive is hostile input: Read refuses, with a reason an operator can act on,
// what no legitimate archive holds: entries in folders or with path tricks ("../",
// absolute paths, backslashes), nested archives, encrypted or unsupported entries,
// symbolic links, repeated names, too many entries, and zip bombs (an entry or a total
// beyond the size caps, or a compression ratio beyond the cap). Sizes declared in the
// archive are checked before decompressing and enforced again while reading, since a
// forged header can lie. Every error is an *Error carrying SdI code 00106 ("File /
// archivio vuoto o corrotto").
package archive

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Code is the SdI code of every error of this package.
const Code = "00106"

// Limits bounds what Read accepts. Zero fields take the defaults.
type Limits struct {
	MaxEntries   int   // entries in the archive; default 1000
	MaxEntrySize int64 // uncompressed bytes of one entry; default 20 MiB
	MaxTotalSize int64 // uncompressed bytes of all entries; default 100 MiB
	MaxRatio     int64 // uncompressed/compressed bytes of an entry; default 200
}

// DefaultLimits are the limits used when a Limits field is zero. An invoice file is at
// most 5 MB when sent alone (00003); inside an archive it may decompress somewhat
// larger, and XML compresses about 10-30 times, so these caps leave legitimate
// archives alone while stopping bombs early.
var DefaultLimits = Limits{MaxEntries: 1000, MaxEntrySize: 20 << 20, MaxTotalSize: 100 << 20, MaxRatio: 200}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = DefaultLimits.MaxEntrySize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultLimits.MaxTotalSize
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultLimits.MaxRatio
	}
	return l
}

// ratioFloor is the size below which the compression ratio is not checked: a small,
// very compressible file is no bomb.
const ratioFloor = 1 << 20

// Entry is one file of the archive.
type Entry struct {
	Name string // as stored: a bare file name, checked free of paths
	Data []byte
}

// Error says why an archive was refused.
type Error struct {
	Name   string // the archive
	Entry  string // the offending entry, "" for the archive as a whole
	Reason string // Italian first, then English
}

func (e *Error) Error() string {
	if e.Entry != "" {
		return fmt.Sprintf("%s: voce %q: %s", e.Name, e.Entry, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Name, e.Reason)
}

// Code returns the SdI code, 00106.
func (e *Error) Code() string { return Code }

// Read opens the archive data (named name in errors) and returns its entries in
// archive order.
func Read(name string, data []byte, lim Limits) ([]Entry, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return nil, &Error{Name: name, Reason: "archivio vuoto (empty archive)"}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &Error{Name: name, Reason: fmt.Sprintf("archivio zip corrotto o non zip: %v (corrupt or not a zip archive)", err)}
	}
	if len(zr.File) == 0 {
		return nil, &Error{Name: name, Reason: "archivio senza file (archive holds no file)"}
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, &Error{Name: name, Reason: fmt.Sprintf("archivio con %d voci oltre il massimo di %d: dividerlo (archive has %d entries, more than %d)",
			len(zr.File), lim.MaxEntries, len(zr.File), lim.MaxEntries)}
	}
	seen := make(map[string]bool, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		if err := checkHeader(name, f, lim); err != nil {
			return nil, err
		}
		key := strings.ToLower(f.Name)
		if seen[key] {
			return nil, &Error{Name: name, Entry: f.Name, Reason: "nome ripetuto nell'archivio (name repeated in the archive)"}
		}
		seen[key] = true
		declared += f.UncompressedSize64
		if declared > uint64(lim.MaxTotalSize) {
			return nil, &Error{Name: name, Reason: fmt.Sprintf("contenuto dichiarato oltre %d byte: possibile zip bomb (declared content exceeds %d bytes)",
				lim.MaxTotalSize, lim.MaxTotalSize)}
		}
	}
	entries := make([]Entry, 0, len(zr.File))
	var total int64
	for _, f := range zr.File {
		b, err := readEntry(name, f, lim)
		if err != nil {
			return nil, err
		}
		total += int64(len(b))
		if total > lim.MaxTotalSize {
			return nil, &Error{Name: name, Reason: fmt.Sprintf("contenuto oltre %d byte: possibile zip bomb (content exceeds %d bytes)", lim.MaxTotalSize, lim.MaxTotalSize)}
		}
		if isArchive(f.Name, b) {
			return nil, &Error{Name: name, Entry: f.Name, Reason: "archivio annidato non ammesso: inserire direttamente i file fattura " +
				"(nested archive not allowed: put the invoice files in directly)"}
		}
		entries = append(entries, Entry{Name: f.Name, Data: b})
	}
	return entries, nil
}

// checkHeader refuses an entry from its header alone.
func checkHeader(name string, f *zip.File, lim Limits) error {
	refuse := func(reason string) error { return &Error{Name: name, Entry: f.Name, Reason: reason} }
	n := f.Name
	switch {
	case n == "":
		return refuse("voce senza nome (entry without a name)")
	case strings.ContainsAny(n, "\\\x00"):
		return refuse("nome con '\\' o NUL: percorso non ammesso (a '\\' or NUL in the name: paths are not allowed)")
	case strings.HasPrefix(n, "/"):
		return refuse("percorso assoluto non ammesso: inserire i file senza cartelle (absolute path not allowed)")
	case n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, "/../") || strings.HasSuffix(n, "/.."):
		return refuse("percorso con '..' non ammesso (a '..' path is not allowed)")
	case f.FileInfo().IsDir() || strings.HasSuffix(n, "/"):
		return refuse("cartella nell'archivio: inserire i file fattura senza cartelle (folder in the archive: put the files in without folders)")
	case strings.Contains(n, "/") || path.Base(n) != n:
		return refuse("file dentro una cartella: inserire i file fattura senza cartelle (file inside a folder: put the files in without folders)")
	case f.Mode().Type() != 0: // symbolic link, device, pipe...
		return refuse("voce che non è un file regolare (link simbolico o speciale) (entry is not a regular file)")
	case f.Flags&0x1 != 0:
		return refuse("voce cifrata: inviare l'archivio senza password (encrypted entry: send the archive without a password)")
	case f.Method != zip.Store && f.Method != zip.Deflate:
		return refuse(fmt.Sprintf("metodo di compressione %d non supportato: usare deflate (compression method %d not supported: use deflate)", f.Method, f.Method))
	case f.UncompressedSize64 > uint64(lim.MaxEntrySize):
		return refuse(fmt.Sprintf("file di %d byte oltre il massimo di %d (file of %d bytes exceeds %d)", f.UncompressedSize64, lim.MaxEntrySize, f.UncompressedSize64, lim.MaxEntrySize))
	case f.UncompressedSize64 > ratioFloor && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(lim.MaxRatio):
		return refuse(fmt.Sprintf("rapporto di compressione %d:1 oltre %d:1: possibile zip bomb (compression ratio beyond the cap)",
			f.UncompressedSize64/f.CompressedSize64, lim.MaxRatio))
	}
	return nil
}

// readEntry decompresses an entry, enforcing the caps whatever its header says.
func readEntry(name string, f *zip.File, lim Limits) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{Name: name, Entry: f.Name, Reason: fmt.Sprintf("voce illeggibile: %v (unreadable entry)", err)}
	}
	defer rc.Close()
	capBytes := min(lim.MaxEntrySize, max(ratioFloor, int64(f.CompressedSize64)*lim.MaxRatio))
	b, err := io.ReadAll(io.LimitReader(rc, capBytes+1))
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) {
			return nil, &Error{Name: name, Entry: f.Name, Reason: "CRC errato: file danneggiato (bad CRC: damaged file)"}
		}
		return nil, &Error{Name: name, Entry: f.Name, Reason: fmt.Sprintf("voce corrotta: %v (corrupt entry)", err)}
	}
	if int64(len(b)) > capBytes {
		return nil, &Error{Name: name, Entry: f.Name, Reason: "contenuto oltre la dimensione dichiarata o il rapporto ammesso: possibile zip bomb " +
			"(content beyond its declared size or the allowed ratio)"}
	}
	if uint64(len(b)) != f.UncompressedSize64 {
		return nil, &Error{Name: name, Entry: f.Name, Reason: fmt.Sprintf("dimensione %d diversa da quella dichiarata %d: voce corrotta (size differs from the declared size)",
			len(b), f.UncompressedSize64)}
	}
	return b, nil
}

// isArchive recognises a nested archive by name or by the zip signature.
func isArchive(name string, b []byte) bool {
	lower := strings.ToLower(name)
	for _, ext := range []string{".zip", ".rar", ".7z", ".gz", ".tar", ".tgz", ".bz2", ".xz"} {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}
