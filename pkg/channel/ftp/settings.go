package ftp

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp/batch"
)

// Settings of an ftp endpoint (the `settings:` of a route phase). Folder settings are
// relative to the endpoint's folder unless they start with "/".
type Settings struct {
	// Connection
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // dial + greeting + TLS (default 15s)
	Timeout        time.Duration `yaml:"timeout"`         // longest wait for any read or write (default 60s)
	DisableEPSV    bool          `yaml:"disable_epsv"`    // use PASV only (EPSV falls back to PASV by itself)
	DisableMLSD    bool          `yaml:"disable_mlsd"`    // list with LIST even where MLSD is offered
	MaxConns       int           `yaml:"max_conns"`       // sender connections at once (default 2)
	IdleTimeout    time.Duration `yaml:"idle_timeout"`    // keep an idle sender connection (default 30s; -1s: one per Send)

	// Sender
	Dir        string   `yaml:"dir"`         // sub-folder of the endpoint folder to write into
	TempName   string   `yaml:"temp_name"`   // "dot" (.<name>.<random>.tmp, default) or "suffix" (<name>.TEMP)
	DoneMarker bool     `yaml:"done_marker"` // also write <main file>.done, last
	Roles      []string `yaml:"roles"`       // file roles to write (default all; batch: main and metadata)
	CreateDirs *bool    `yaml:"create_dirs"` // create missing folders (default true)

	// Receiver
	Pattern    string        `yaml:"pattern"`    // glob of names to pick up (default "*"; batch "*.done")
	Poll       time.Duration `yaml:"poll"`       // listing interval (default 10s)
	Stable     string        `yaml:"stable"`     // "listing" (default), "done" or "none"; batch default "none"
	StableFor  time.Duration `yaml:"stable_for"` // with stable: listing, unchanged for at least this long (default 2s)
	MaxSize    int64         `yaml:"max_size"`   // larger files are refused (default 32 MiB; batch 150 MiB)
	After      string        `yaml:"after"`      // "move" (default) or "delete"
	Processing string        `yaml:"processing"` // claimed files (default ".processing")
	// StaleClaim is how long a claimed file may stay in the processing folder before
	// this receiver takes it over from a hub process that died with it (default 1m).
	StaleClaim time.Duration `yaml:"stale_claim"`
	Processed  string        `yaml:"processed"` // acknowledged files (default "processed"; batch "processati")
	Rejected   string        `yaml:"rejected"`  // refused files and their .errore.txt (default "rejected")

	// Batch convention
	Batch              string        `yaml:"batch"`               // "" or "intermediamarche"
	CodiceFiscale      string        `yaml:"codice_fiscale"`      // <CF> of the supporto names
	IdentificativoNodo string        `yaml:"identificativo_nodo"` // 11 digits (default: codice_fiscale)
	MaxZipSize         int64         `yaml:"max_zip_size"`        // outbound split bound (default 150 MiB)
	FlushEvery         time.Duration `yaml:"flush_every"`         // outbound batch interval (default 60s)
	// AwaitTimeout bounds how long a staged delivery may wait for its supporto's upload
	// before the hub alerts and sends it again (default 24h).
	AwaitTimeout time.Duration `yaml:"await_timeout"`
	OutcomeDir   string        `yaml:"outcome_dir"`    // where EO outcome files go (default: the endpoint folder)
	MaxEntries   int           `yaml:"max_entries"`    // inbound zip entries (default 10000)
	MaxEntrySize int64         `yaml:"max_entry_size"` // inbound zip entry size (default 32 MiB)
}

// BatchIntermediaMarche is the batch convention of IntermediaMarche's FTP Canale
// Avanzato (SDIFTP supporti).
const BatchIntermediaMarche = "intermediamarche"

// Stability rules of the receiver.
const (
	StableListing = "listing"
	StableDone    = "done"
	StableNone    = "none"
)

func (s *Settings) batch() bool { return s.Batch != "" }

func (s *Settings) createDirs() bool { return s.CreateDirs == nil || *s.CreateDirs }

func orDuration(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (s *Settings) connectTimeout() time.Duration {
	return orDuration(s.ConnectTimeout, 15*time.Second)
}
func (s *Settings) timeout() time.Duration    { return orDuration(s.Timeout, 60*time.Second) }
func (s *Settings) poll() time.Duration       { return orDuration(s.Poll, 10*time.Second) }
func (s *Settings) flushEvery() time.Duration { return orDuration(s.FlushEvery, 60*time.Second) }

func (s *Settings) idleTimeout() time.Duration {
	if s.IdleTimeout < 0 {
		return 0
	}
	return orDuration(s.IdleTimeout, 30*time.Second)
}

func (s *Settings) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return 2
}

func (s *Settings) stableFor() time.Duration {
	if s.StableFor < 0 {
		return 0
	}
	return orDuration(s.StableFor, 2*time.Second)
}

func (s *Settings) stable() string {
	switch {
	case s.Stable != "":
		return s.Stable
	case s.batch():
		return StableNone
	}
	return StableListing
}

func (s *Settings) pattern() string {
	switch {
	case s.Pattern != "":
		return s.Pattern
	case s.batch():
		return "*" + batch.DoneSuffix
	}
	return "*"
}

func (s *Settings) maxSize() int64 {
	switch {
	case s.MaxSize > 0:
		return s.MaxSize
	case s.batch():
		return s.maxZipSize()
	}
	return 32 << 20
}

func (s *Settings) maxZipSize() int64 {
	if s.MaxZipSize > 0 {
		return s.MaxZipSize
	}
	return 150 << 20
}

func (s *Settings) tempSuffix() bool {
	if s.TempName == "" {
		return s.batch()
	}
	return s.TempName == "suffix"
}

func (s *Settings) processed() string {
	switch {
	case s.Processed != "":
		return s.Processed
	case s.batch():
		return "processati"
	}
	return "processed"
}

func (s *Settings) roles() []string {
	if len(s.Roles) == 0 && s.batch() {
		return []string{"main", "metadata"}
	}
	return s.Roles
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// nodo is the IdentificativoNodo written in quadrature and outcomes.
func (s *Settings) nodo() string {
	if s.IdentificativoNodo != "" {
		return s.IdentificativoNodo
	}
	return batch.StripIT(s.CodiceFiscale)
}

// Check validates the settings against the endpoint; every error says what to change.
func (s *Settings) awaitTimeout() time.Duration {
	if s.AwaitTimeout > 0 {
		return s.AwaitTimeout
	}
	return 24 * time.Hour
}

func (s *Settings) staleClaim() time.Duration {
	if s.StaleClaim > 0 {
		return s.StaleClaim
	}
	return time.Minute
}

func (s *Settings) Check(ep *channel.Endpoint) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u := ep.URL
	switch {
	case u == nil:
		return errors.New("ftp: URL mancante (URL missing)")
	case u.Scheme != "ftp" && u.Scheme != "ftps":
		add("URL %s: schema %q non gestito: usare ftp:// o ftps:// (scheme must be ftp or ftps)", u.Redacted(), u.Scheme)
	case u.Hostname() == "":
		add("URL %s: manca l'host (host missing)", u.Redacted())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			add("URL %s: porta %q non valida (bad port)", u.Redacted(), p)
		}
	}
	if u.User != nil {
		add("URL %s: le credenziali non vanno nell'URL: usare username e password dell'endpoint con ${VAR} (credentials do not belong in the URL)", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		add("URL %s: query e frammento non ammessi (query and fragment not allowed)", u.Redacted())
	}
	if hasControl(u.Path) {
		add("URL %s: il percorso contiene caratteri di controllo (path contains control characters)", u.Redacted())
	}
	if ep.Username == "" {
		add("manca l'utente FTP: impostare username (FTP username missing)")
	}
	if u.Scheme == "ftp" && (ep.TLS.CAFile != "" || ep.TLS.CertFile != "" || ep.TLS.MinVersion != "") {
		add("impostazioni TLS con ftp://: usare ftps:// per FTP su TLS esplicito (TLS settings need an ftps:// URL)")
	}
	for _, f := range []struct{ name, v string }{{"dir", s.Dir}, {"processing", s.Processing}, {"processed", s.Processed},
		{"rejected", s.Rejected}, {"outcome_dir", s.OutcomeDir}} {
		if hasControl(f.v) {
			add("%s %q: caratteri di controllo non ammessi (control characters not allowed)", f.name, f.v)
		}
	}
	if s.Pattern != "" {
		if _, err := path.Match(s.Pattern, "x"); err != nil || strings.Contains(s.Pattern, "/") {
			add("pattern %q non valido: serve un glob senza / come *.xml (bad glob)", s.Pattern)
		}
	}
	check := func(name, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add("%s: %q non valido; ammessi %s (%s must be one of %s)", name, v, strings.Join(allowed, ", "), name, strings.Join(allowed, ", "))
	}
	check("temp_name", s.TempName, "dot", "suffix")
	check("stable", s.Stable, StableListing, StableDone, StableNone)
	check("after", s.After, "move", "delete")
	check("batch", s.Batch, BatchIntermediaMarche)
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"connect_timeout", s.ConnectTimeout}, {"timeout", s.Timeout}, {"poll", s.Poll}, {"flush_every", s.FlushEvery}} {
		if f.d < 0 {
			add("%s: %s negativo (negative duration)", f.name, f.d)
		}
	}
	if s.MaxConns < 0 || s.MaxConns > 32 {
		add("max_conns: %d fuori da 1..32 (out of range)", s.MaxConns)
	}
	if s.MaxSize < 0 || s.MaxZipSize < 0 || s.MaxEntrySize < 0 || s.MaxEntries < 0 {
		add("max_size, max_zip_size, max_entry_size e max_entries non possono essere negativi (limits must not be negative)")
	}
	for _, r := range s.Roles {
		if r == "" {
			add("roles: ruolo vuoto (empty role)")
		}
	}
	if s.batch() {
		if s.CodiceFiscale == "" {
			add("batch %s: manca codice_fiscale, che compone i nomi dei supporti (codice_fiscale required)", s.Batch)
		} else if err := (batch.Name{Prefix: batch.PrefixOut, CF: batch.StripIT(s.CodiceFiscale), N: 1}).Check(); err != nil {
			add("codice_fiscale: %v", err)
		}
		if n := s.nodo(); len(n) != 11 || strings.Trim(n, "0123456789") != "" {
			add("identificativo_nodo %q: servono 11 cifre; impostarlo se codice_fiscale non è numerico (IdentificativoNodo must be 11 digits)", n)
		}
		if s.DoneMarker {
			add("done_marker non si usa con batch: i supporti hanno già il suffisso .done (not used with batch)")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("ftp: endpoint %s: %w", ep.Name, errors.Join(errs...))
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
