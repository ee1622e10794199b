package batch

import (
	"fmt"
	"strings"
	"time"
)

// Supporto name prefixes.
const (
	PrefixOut     = "FO" // hub → ente ("file out" of the SdI)
	PrefixIn      = "FI" // ente → hub
	PrefixOutcome = "EO" // outcome of a received supporto
)

// DoneSuffix ends the name of a complete supporto on the FTP server.
const DoneSuffix = ".done"

// MaxNomeSupporto is the longest NomeSupporto the XSD allows.
const MaxNomeSupporto = 44

// Name is the name of a supporto the hub writes.
type Name struct {
	Prefix string    // PrefixOut
	CF     string    // fiscal id, without the IT prefix (see StripIT)
	Time   time.Time // creation time; written in UTC at minute precision
	N      int       // sequence of the zip within its batch, 1..999
}

func (n Name) stem() string {
	t := n.Time.UTC()
	return fmt.Sprintf("%s.%s.%04d%03d.%02d%02d.%03d", n.Prefix, n.CF, t.Year(), t.YearDay(), t.Hour(), t.Minute(), n.N)
}

// Zip is the zip name: FO.<CF>.<AAAADDD>.<HHMM>.<NNN>.zip.
func (n Name) Zip() string { return n.stem() + ".zip" }

// Quadratura is the name of the zip's quadratura entry: the zip name with .xml.
func (n Name) Quadratura() string { return n.stem() + ".xml" }

// Check validates the parts of the name.
func (n Name) Check() error {
	if n.Prefix != PrefixOut && n.Prefix != PrefixIn {
		return fmt.Errorf("batch: prefisso %q non valido: usare FO o FI (prefix must be FO or FI)", n.Prefix)
	}
	if err := checkCF(n.CF); err != nil {
		return err
	}
	if n.N < 1 || n.N > 999 {
		return fmt.Errorf("batch: progressivo %d fuori da 1..999 (sequence out of range)", n.N)
	}
	if len(n.Zip()) > MaxNomeSupporto {
		return fmt.Errorf("batch: nome %s oltre %d caratteri (name too long for NomeSupporto)", n.Zip(), MaxNomeSupporto)
	}
	return nil
}

func checkCF(cf string) error {
	if cf == "" || len(cf) > 28 {
		return fmt.Errorf("batch: codice fiscale %q vuoto o troppo lungo (fiscal id empty or too long)", cf)
	}
	for i := 0; i < len(cf); i++ {
		if !isAlnum(cf[i]) {
			return fmt.Errorf("batch: codice fiscale %q: solo lettere e cifre (fiscal id must be letters and digits)", cf)
		}
	}
	return nil
}

// StripIT removes the leading "IT" country prefix of a partita IVA written as a VAT
// number ("IT01234567890" → "01234567890"); other ids are returned unchanged.
func StripIT(cf string) string {
	if len(cf) > 2 && (cf[:2] == "IT" || cf[:2] == "it") {
		return cf[2:]
	}
	return cf
}

// Supporto is a received supporto name split into its parts. Only the prefix has a
// meaning for the hub; the other parts are kept as written (possibly unpadded).
type Supporto struct {
	Prefix, CF, Date, Time, N string
	Done                      bool // the name ended in .done
}

// ParseName splits a supporto name <P>.<CF>.<date>.<time>.<NNN>.zip[.done]. It accepts
// the unpadded dates and times IntermediaMarche writes.
func ParseName(name string) (Supporto, error) {
	var s Supporto
	rest := name
	if strings.HasSuffix(rest, DoneSuffix) {
		s.Done = true
		rest = strings.TrimSuffix(rest, DoneSuffix)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 6 || !strings.EqualFold(parts[5], "zip") {
		return s, fmt.Errorf("batch: nome %q non ha la forma <prefisso>.<CF>.<AAAADDD>.<HHMM>.<NNN>.zip (not a supporto name)", name)
	}
	s.Prefix, s.CF, s.Date, s.Time, s.N = parts[0], parts[1], parts[2], parts[3], parts[4]
	switch s.Prefix {
	case PrefixIn, PrefixOut, PrefixOutcome:
	default:
		return s, fmt.Errorf("batch: nome %q: prefisso %q, attesi FI, FO o EO (unknown prefix)", name, s.Prefix)
	}
	if err := checkCF(s.CF); err != nil {
		return s, fmt.Errorf("batch: nome %q: %w", name, err)
	}
	if !digits(s.Date, 5, 7) || !digits(s.Time, 2, 4) || !digits(s.N, 1, 3) {
		return s, fmt.Errorf("batch: nome %q: data, ora o progressivo non numerici (date, time or sequence not numeric)", name)
	}
	return s, nil
}

// EsitoName is the name of the outcome file answering the supporto zipName: the FI (or
// FO) prefix becomes EO and .zip[.done] becomes .xml, as IntermediaMarche does
// ("FI.X.2025031.1030.001.zip.done" → "EO.X.2025031.1030.001.xml"). A name of another
// shape gets "EO." in front and .xml in place of its last extension.
func EsitoName(zipName string) string {
	base := strings.TrimSuffix(zipName, DoneSuffix)
	if i := strings.LastIndexByte(base, '.'); i > 0 && strings.EqualFold(base[i:], ".zip") {
		base = base[:i]
	}
	if strings.HasPrefix(base, PrefixIn+".") || strings.HasPrefix(base, PrefixOut+".") {
		return PrefixOutcome + base[2:] + ".xml"
	}
	return PrefixOutcome + "." + base + ".xml"
}

// IsQuadraturaName reports whether an entry name marks the quadratura of a zip: FI.,
// FO. or EO. followed by anything, ending in .xml.
func IsQuadraturaName(name string) bool {
	if len(name) < 8 || !strings.EqualFold(name[len(name)-4:], ".xml") {
		return false
	}
	p := strings.ToUpper(name[:3])
	return p == "FI." || p == "FO." || p == "EO."
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
