// Package route reads the hub configuration (snodo.yaml) and the route files, one YAML
// file per ente in routes/: who the ente is (IPA code, fiscal code, the offices —
// CodiceDestinatario — it serves, its PEC) and, per phase of each cycle, which channel
// carries the traffic and how (endpoint, credentials, TLS, retry policy).
//
// Decoding is strict and complete: every unknown key, bad URL, unknown channel kind,
// missing ${ENV} secret, unreadable TLS file or office claimed by two enti is reported
// with file:line and the fix, all at once, before the hub starts. Secrets are written
// as ${ENV} or file:/path; plain-text secrets are accepted but flagged by `routes check`.
package route

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/channel"
)

// Phase names.
const (
	PassiveProtocol      = "passive.protocol"
	PassiveAccounting    = "passive.accounting"
	PassiveOutcome       = "passive.outcome"
	PassiveNotifications = "passive.notifications"
	ActiveSubmit         = "active.submit"
	ActiveNotifications  = "active.notifications"
	PaymentsPositions    = "payments.positions"
	PaymentsReceipts     = "payments.receipts"
	PaymentsOutcomes     = "payments.outcomes"
	PaymentsReports      = "payments.reports"
)

// Direction tells whether a phase receives from the ente or sends to it.
type Direction int

const (
	Send    Direction = iota // the hub delivers to the ente
	Receive                  // the hub takes from the ente
)

func (d Direction) String() string {
	if d == Receive {
		return "ricezione (in)"
	}
	return "consegna (out)"
}

// Loader loads configuration and routes.
type Loader struct {
	Channels *channel.Registry
	// Getenv resolves ${VAR}; os.Getenv when nil.
	Getenv func(string) string
	// DataDir is where relative file: URLs of route files point (file:comune-a/inbox
	// is <DataDir>/comune-a/inbox).
	DataDir string
	// CheckRules validates an ente's pre-validation rules; the returned problems carry
	// lines. Nil skips the check.
	CheckRules func(rules *yaml.Node) []Problem
}

func (l *Loader) getenv() func(string) string {
	if l.Getenv != nil {
		return l.Getenv
	}
	return os.Getenv
}

// LoadConfig reads snodo.yaml and applies defaults. A missing file gives the embedded
// defaults (local folders, SQLite, plain HTTP on 127.0.0.1:8080).
func (l *Loader) LoadConfig(path string) (*Config, error) {
	cfg := &Config{file: path}
	d := &decoder{file: path, dir: filepath.Dir(path), getenv: l.getenv()}
	root, err := parseFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// embedded defaults
	case err != nil:
		return nil, asProblems(path, err)
	default:
		d.root = root
		d.expand(root)
		d.decode(root, cfg, "")
	}
	cfg.applyDefaults(d)
	cfg.check(d)
	if len(d.problems) > 0 {
		return nil, d.problems
	}
	return cfg, nil
}

func asProblems(path string, err error) error {
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	return Problems{{File: path, Msg: err.Error()}}
}

func (c *Config) applyDefaults(d *decoder) {
	if c.Listen.HTTP == "" && c.Listen.HTTPS == "" {
		c.Listen.HTTP = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	c.DataDir = d.path(c.DataDir)
	if c.RoutesDir == "" {
		c.RoutesDir = "routes"
	}
	c.RoutesDir = d.path(c.RoutesDir)
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.SdI.Channel == "" {
		c.SdI.Channel = "ws"
	}
	if c.SdI.Address == "" {
		c.SdI.Address = "sdi01@pec.fatturapa.it"
	}
	if c.SdI.MaxFileSize == 0 {
		c.SdI.MaxFileSize = 5 << 20
	}
	for _, t := range []*TLSSpec{&c.Listen.TLS, &c.SdI.TLS, &c.PagoPA.TLS} {
		t.resolve(d)
	}
	if c.Trust.Signatures != "" {
		c.Trust.Signatures = d.path(c.Trust.Signatures)
	}
	if c.Trust.PEC != "" {
		c.Trust.PEC = d.path(c.Trust.PEC)
	}
}

func (t *TLSSpec) resolve(d *decoder) {
	t.Cert, t.Key, t.CA, t.ClientCA = d.path(t.Cert), d.path(t.Key), d.path(t.CA), d.path(t.ClientCA)
}

func (t *TLSSpec) check(d *decoder, line int, path string) {
	if (t.Cert == "") != (t.Key == "") {
		d.addf(line, "%s.tls: cert e key vanno indicati insieme (cert and key go together)", path)
	}
	for _, f := range []struct{ name, p string }{{"cert", t.Cert}, {"key", t.Key}, {"ca", t.CA}, {"client_ca", t.ClientCA}} {
		if f.p == "" {
			continue
		}
		if _, err := os.Stat(f.p); err != nil {
			d.addf(line, "%s.tls.%s: %s non leggibile: %v (file not found)", path, f.name, f.p, err)
		}
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		d.addf(line, "%s.tls.min_version: %q non ammesso; usare 1.2 o 1.3 (TLS 1.2 is the minimum)", path, t.MinVersion)
	}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) check(d *decoder) {
	if c.Listen.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.Listen.HTTP); err != nil {
			d.addf(d.lineAt("listen.http"), "listen.http: indirizzo %q non valido, usare host:porta (bad address)", c.Listen.HTTP)
		} else if !isLoopback(c.Listen.HTTP) && !c.Listen.AllowPlainHTTP {
			d.addf(d.lineAt("listen.http"), "listen.http: HTTP in chiaro su %s esposto oltre localhost; usare listen.https, oppure impostare "+
				"listen.allow_plain_http: true se un proxy TLS sta davanti (plain HTTP beyond loopback needs allow_plain_http)", c.Listen.HTTP)
		}
	}
	for _, a := range c.Listen.MetricsFrom {
		if _, _, err := net.ParseCIDR(a); err != nil && net.ParseIP(a) == nil {
			d.addf(d.lineAt("listen.metrics_from"), "listen.metrics_from: %q non è un IP né un CIDR, es. 10.0.0.0/8 (not an IP or CIDR)", a)
		}
	}
	if c.Listen.HTTPS != "" {
		if c.Listen.TLS.Cert == "" {
			d.addf(d.lineAt("listen.https"), "listen.https: servono listen.tls.cert e listen.tls.key (a certificate is required)")
		}
	}
	c.Listen.TLS.check(d, 0, "listen")
	c.SdI.TLS.check(d, 0, "sdi")
	c.PagoPA.TLS.check(d, 0, "pagopa")
	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.DSN.Value == "" {
			d.addf(d.lineAt("store.dsn"), "store.dsn: con driver postgres serve la stringa di connessione, es. ${SNODO_POSTGRES_DSN} (dsn required)")
		}
	default:
		d.addf(d.lineAt("store.driver"), "store.driver: %q sconosciuto; usare sqlite o postgres (unknown driver)", c.Store.Driver)
	}
	switch c.Store.Synchronous {
	case "", "normal", "full":
	default:
		d.addf(d.lineAt("store.synchronous"), "store.synchronous: %q; usare normal o full (SQLite durability)", c.Store.Synchronous)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		d.addf(d.lineAt("log.format"), "log.format: %q; usare text o json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.addf(d.lineAt("log.level"), "log.level: %q; usare debug, info, warn o error", c.Log.Level)
	}
	switch c.SdI.Channel {
	case "ws", "pec":
	default:
		d.addf(d.lineAt("sdi.channel"), "sdi.channel: %q; usare ws (SDICoop) o pec", c.SdI.Channel)
	}
	for _, u := range []struct{ key, v string }{{"sdi.ricevi_file_url", c.SdI.RiceviFileURL}, {"sdi.ricevi_notifica_url", c.SdI.RiceviNotificaURL}, {"pagopa.node_url", c.PagoPA.NodeURL}} {
		if u.v == "" {
			continue
		}
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			d.addf(d.lineAt(u.key), "%s: URL %q non valido; atteso https://host/percorso (bad URL)", u.key, u.v)
		}
	}
}

// File returns the path the configuration was read from.
func (c *Config) File() string { return c.file }

// Routes are the loaded route files with their resolved endpoints.
type Routes struct {
	Enti      []*Ente
	byID      map[string]*Ente
	byOffice  map[string]*Ente
	endpoints map[string]*channel.Endpoint // "ente/phase"
	specs     map[string]*EndpointSpec
	sources   map[string]Problem // receive sources already read, with where
	// Warnings are not errors: plain-text secrets, disabled phases, etc.
	Warnings []Problem
}

// Ente returns an ente by route id.
func (r *Routes) Ente(id string) (*Ente, bool) { e, ok := r.byID[id]; return e, ok }

// ByOffice returns the ente serving a CodiceDestinatario.
func (r *Routes) ByOffice(code string) (*Ente, bool) {
	e, ok := r.byOffice[strings.ToUpper(strings.TrimSpace(code))]
	return e, ok
}

// ByFiscalCode returns the enti with a fiscal code (several offices may share it).
func (r *Routes) ByFiscalCode(cf string) []*Ente {
	var out []*Ente
	for _, e := range r.Enti {
		if e.Ente.CodiceFiscale == cf {
			out = append(out, e)
		}
	}
	return out
}

// Endpoint returns the resolved endpoint of a phase of an ente.
func (r *Routes) Endpoint(ente, phase string) (*channel.Endpoint, bool) {
	ep, ok := r.endpoints[ente+"/"+phase]
	return ep, ok
}

// Spec returns the endpoint as written (for retry policies and explanations).
func (r *Routes) Spec(ente, phase string) (*EndpointSpec, bool) {
	s, ok := r.specs[ente+"/"+phase]
	return s, ok
}

// PhasePlan describes one configured phase of an ente.
type PhasePlan struct {
	Phase     string
	Direction Direction
	Endpoint  *channel.Endpoint
	Spec      *EndpointSpec
}

// Plan lists the configured phases of an ente in a stable order.
func (r *Routes) Plan(ente string) []PhasePlan {
	var out []PhasePlan
	for key, ep := range r.endpoints {
		id, phase, _ := strings.Cut(key, "/")
		if id != ente {
			continue
		}
		out = append(out, PhasePlan{Phase: phase, Direction: phaseDirection(phase), Endpoint: ep, Spec: r.specs[key]})
	}
	sort.Slice(out, func(i, j int) bool { return phaseOrder(out[i].Phase) < phaseOrder(out[j].Phase) })
	return out
}

var phaseList = []string{PassiveProtocol, PassiveAccounting, PassiveNotifications, PassiveOutcome, ActiveSubmit,
	ActiveNotifications, PaymentsPositions, PaymentsReceipts, PaymentsOutcomes, PaymentsReports}

func phaseOrder(p string) string {
	for i, q := range phaseList {
		if p == q {
			return fmt.Sprintf("%02d", i)
		}
	}
	return "99" + p
}

func phaseDirection(p string) Direction {
	switch {
	case p == PassiveOutcome, p == ActiveSubmit, p == PaymentsPositions, strings.HasSuffix(p, ".from"):
		return Receive
	}
	return Send
}

// ForwardPhase names the phases of a forward route.
func ForwardPhase(name string, from bool) string {
	if from {
		return "forward." + name + ".from"
	}
	return "forward." + name + ".to"
}

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	officePattern = regexp.MustCompile(`^[A-Z0-9]{6,7}$`)
	cfPattern     = regexp.MustCompile(`^([0-9]{11}|[A-Z0-9]{16})$`)
)

// LoadRoutes reads every *.yaml/*.yml file of dir.
func (l *Loader) LoadRoutes(dir string) (*Routes, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problems{{File: dir, Msg: fmt.Sprintf("cartella delle rotte non leggibile: %v (routes folder unreadable)", err)}}
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			files = append(files, filepath.Join(dir, n))
		}
	}
	sort.Strings(files)
	return l.LoadFiles(files)
}

// LoadFiles reads the given route files.
func (l *Loader) LoadFiles(files []string) (*Routes, error) {
	r := &Routes{byID: map[string]*Ente{}, byOffice: map[string]*Ente{}, endpoints: map[string]*channel.Endpoint{},
		specs: map[string]*EndpointSpec{}, sources: map[string]Problem{}}
	var problems Problems
	officeAt := map[string]Problem{}
	for _, f := range files {
		d := &decoder{file: f, dir: filepath.Dir(f), getenv: l.getenv()}
		root, err := parseFile(f)
		if err != nil {
			problems = append(problems, asProblems(f, err).(Problems)...)
			continue
		}
		e := &Ente{File: f}
		d.root = root
		d.expand(root)
		d.decode(root, e, "")
		if e.Ente.ID == "" {
			base := filepath.Base(f)
			e.Ente.ID = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
		}
		l.checkEnte(d, e, r)
		for _, o := range e.Ente.Offices {
			code := strings.ToUpper(o.Code)
			if prev, dup := officeAt[code]; dup {
				d.addf(o.line, "ufficio %s già servito da %s (%s:%d): un CodiceDestinatario appartiene a un solo ente; toglierlo da uno dei due file (office claimed twice)",
					code, prev.Msg, prev.File, prev.Line)
				continue
			}
			officeAt[code] = Problem{File: f, Line: o.line, Msg: e.Ente.ID}
			r.byOffice[code] = e
		}
		if prev, dup := r.byID[e.Ente.ID]; dup {
			d.addf(e.Ente.line, "ente.id %q già usato in %s: ogni ente ha un id unico (duplicate ente id)", e.Ente.ID, prev.File)
		} else {
			r.byID[e.Ente.ID] = e
			r.Enti = append(r.Enti, e)
		}
		problems = append(problems, d.problems...)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return r, nil
}

func (l *Loader) checkEnte(d *decoder, e *Ente, r *Routes) {
	id := &e.Ente
	if !idPattern.MatchString(id.ID) {
		d.addf(d.lineAt("ente.id"), "ente.id %q non valido: lettere minuscole, cifre e trattini, es. comune-di-ancona (bad id)", id.ID)
	}
	if id.Name == "" {
		d.addf(d.lineAt("ente"), "ente.name mancante: il nome dell'ente compare nei messaggi agli operatori (name required)")
	}
	if id.CodiceFiscale == "" {
		d.addf(d.lineAt("ente"), "ente.codice_fiscale mancante: serve per FatturaPA (IdFiscaleCommittente) e pagoPA (idPA) (fiscal code required)")
	} else if !cfPattern.MatchString(id.CodiceFiscale) {
		d.addf(d.lineAt("ente.codice_fiscale"), "ente.codice_fiscale %q non valido: 11 cifre o 16 caratteri maiuscoli (bad fiscal code)", id.CodiceFiscale)
	} else if len(id.CodiceFiscale) == 11 && !partitaIVAValid(id.CodiceFiscale) {
		d.addf(d.lineAt("ente.codice_fiscale"), "ente.codice_fiscale %q: cifra di controllo errata (wrong check digit)", id.CodiceFiscale)
	}
	for _, o := range id.Offices {
		if !officePattern.MatchString(strings.ToUpper(o.Code)) {
			d.addf(o.line, "ufficio %q non valido: il codice univoco ufficio IPA ha 6 caratteri A-Z e 0-9 (bad office code)", o.Code)
		}
	}
	for _, t := range e.Auth.Tokens {
		if len(t.Value) < 16 {
			d.addf(t.line, "auth.tokens: token troppo corto (%d caratteri); usarne almeno 16 casuali (token too short)", len(t.Value))
		}
		if t.Plain {
			r.Warnings = append(r.Warnings, Problem{File: d.file, Line: t.line, Msg: "auth.tokens: token scritto in chiaro; usare ${ENV} o file:/percorso (plain-text secret)"})
		}
	}
	if e.Auth.Password.Plain {
		r.Warnings = append(r.Warnings, Problem{File: d.file, Line: e.Auth.Password.line, Msg: "auth.password scritta in chiaro; usare ${ENV} o file:/percorso (plain-text secret)"})
	}

	phases := []struct {
		name string
		spec *EndpointSpec
	}{
		{PassiveProtocol, e.Passive.Protocol}, {PassiveAccounting, e.Passive.Accounting}, {PassiveOutcome, e.Passive.Outcome},
		{PassiveNotifications, e.Passive.Notifications}, {ActiveSubmit, e.Active.Submit}, {ActiveNotifications, e.Active.Notifications},
		{PaymentsPositions, e.Payments.Positions}, {PaymentsReceipts, e.Payments.Receipts}, {PaymentsOutcomes, e.Payments.Outcomes},
		{PaymentsReports, e.Payments.Reports},
	}
	for _, f := range e.Forward {
		if f.Name == "" || !idPattern.MatchString(f.Name) {
			d.addf(f.line, "forward: name %q non valido: lettere minuscole, cifre e trattini (bad name)", f.Name)
			continue
		}
		if f.From == nil || f.To == nil {
			d.addf(f.line, "forward %s: servono from e to (from and to required)", f.Name)
			continue
		}
		phases = append(phases, struct {
			name string
			spec *EndpointSpec
		}{ForwardPhase(f.Name, true), f.From}, struct {
			name string
			spec *EndpointSpec
		}{ForwardPhase(f.Name, false), f.To})
	}
	for _, p := range phases {
		if p.spec == nil {
			continue
		}
		ep := l.resolveEndpoint(d, e.Ente.ID, p.name, p.spec, r)
		if ep != nil {
			r.endpoints[e.Ente.ID+"/"+p.name] = ep
			r.specs[e.Ente.ID+"/"+p.name] = p.spec
			if phaseDirection(p.name) == Receive {
				src := l.sourceOf(ep)
				if prev, dup := r.sources[src]; dup {
					d.addf(p.spec.line, "%s legge la stessa sorgente di %s (%s:%d): due ricevitori si contenderebbero gli stessi file o messaggi; "+
						"usare cartelle o caselle distinte (the same source is read twice)", p.name, prev.Msg, prev.File, prev.Line)
				} else {
					r.sources[src] = Problem{File: d.file, Line: p.spec.line, Msg: e.Ente.ID + "/" + p.name}
				}
			}
		}
	}
	switch e.Passive.Prevalidation.OnFailure {
	case "", "reject", "flag":
	default:
		d.addf(d.lineAt("passive.prevalidation.on_failure"), "passive.prevalidation.on_failure: %q; usare reject (EC02 automatico) o flag (solo segnalazione)", e.Passive.Prevalidation.OnFailure)
	}
	for _, w := range e.Passive.Deliver {
		switch w {
		case "signed", "unwrapped", "metadata", "rendering":
		default:
			d.addf(d.lineAt("passive.deliver"), "passive.deliver: %q sconosciuto; valori: signed, unwrapped, metadata, rendering", w)
		}
	}
	for _, env := range []struct{ key, v string }{{"passive.environment", e.Passive.Environment}, {"active.environment", e.Active.Environment}} {
		switch env.v {
		case "", "production", "staging":
		default:
			d.addf(d.lineAt(env.key), "%s: %q; usare production o staging", env.key, env.v)
		}
	}
	switch e.Active.Sign.Format {
	case "", "none":
	case "cades", "xades":
		for _, f := range []struct{ k, p string }{{"cert", e.Active.Sign.Cert}, {"key", e.Active.Sign.Key}} {
			if f.p == "" {
				d.addf(d.lineAt("active.sign."+f.k), "active.sign.%s: serve con format %s (required)", f.k, e.Active.Sign.Format)
			} else if _, err := os.Stat(d.path(f.p)); err != nil {
				d.addf(d.lineAt("active.sign."+f.k), "active.sign.%s: %v (file not found)", f.k, err)
			}
		}
		e.Active.Sign.Cert, e.Active.Sign.Key = d.path(e.Active.Sign.Cert), d.path(e.Active.Sign.Key)
	default:
		d.addf(d.lineAt("active.sign.format"), "active.sign.format: %q; usare none, cades o xades", e.Active.Sign.Format)
	}
	if l.CheckRules != nil && e.Passive.Prevalidation.Rules.Kind != 0 {
		for _, p := range l.CheckRules(&e.Passive.Prevalidation.Rules) {
			p.File = d.file
			d.problems = append(d.problems, p)
		}
	}
}

func (l *Loader) resolveEndpoint(d *decoder, ente, phase string, s *EndpointSpec, r *Routes) *channel.Endpoint {
	where := phase
	if s.Channel == "" {
		d.addf(s.line, "%s.channel mancante: indicare uno tra %s (channel required)", where, strings.Join(l.Channels.Names(), ", "))
		return nil
	}
	kind, ok := l.Channels.Lookup(s.Channel)
	if !ok {
		d.addf(s.line, "%s.channel: tipo %q sconosciuto; tipi disponibili: %s (unknown channel kind)", where, s.Channel, strings.Join(l.Channels.Names(), ", "))
		return nil
	}
	dir := phaseDirection(phase)
	if dir == Send && kind.NewSender == nil || dir == Receive && kind.NewReceiver == nil {
		d.addf(s.line, "%s: il canale %s non può essere usato in %s (channel kind cannot %s)", where, s.Channel, dir, dir)
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || s.URL == "" || u.Scheme == "" {
		d.addf(s.line, "%s.url %q non valido: atteso uno schema tra %s, es. %s://... (bad URL)", where, s.URL, strings.Join(kind.Schemes, ", "), kind.Schemes[0])
		return nil
	}
	if u.Scheme == "file" && (u.Opaque != "" || !filepath.IsAbs(u.Path)) && u.Host == "" {
		rel := u.Opaque
		if rel == "" {
			rel = u.Path
		}
		base := l.DataDir
		if base == "" {
			base = "."
		}
		abs, err := filepath.Abs(filepath.Join(base, rel))
		if err != nil {
			d.addf(s.line, "%s.url: percorso %q non risolvibile: %v", where, rel, err)
			return nil
		}
		u = &url.URL{Scheme: "file", Path: abs}
	}
	schemeOK := false
	for _, sc := range kind.Schemes {
		schemeOK = schemeOK || sc == u.Scheme
	}
	if !schemeOK {
		d.addf(s.line, "%s.url: lo schema %q non vale per il canale %s; usare %s (wrong scheme)", where, u.Scheme, s.Channel, strings.Join(kind.Schemes, " o "))
		return nil
	}
	if u.User != nil {
		d.addf(s.line, "%s.url: credenziali nell'URL non ammesse; usare username e password con ${ENV} (credentials in URL)", where)
		return nil
	}
	if s.Password.Plain {
		r.Warnings = append(r.Warnings, Problem{File: d.file, Line: s.Password.line, Msg: where + ".password scritta in chiaro; usare ${ENV} o file:/percorso (plain-text secret)"})
	}
	s.TLS.resolve(d)
	s.TLS.check(d, s.line, where)
	if s.TLS.Insecure {
		d.addf(s.line, "%s.tls.insecure_skip_verify: non ammesso; indicare la CA del server in tls.ca (certificate checks cannot be disabled)", where)
	}
	ep := &channel.Endpoint{Name: ente + "/" + phase, Kind: s.Channel, URL: u, Username: s.Username, Password: s.Password.Value,
		TLS: channel.TLS{CAFile: s.TLS.CA, CertFile: s.TLS.Cert, KeyFile: s.TLS.Key, MinVersion: s.TLS.MinVersion, ServerName: s.TLS.ServerName}}
	if kind.NewSettings != nil {
		set := kind.NewSettings()
		if s.Settings.Kind != 0 {
			before := len(d.problems)
			d.decode(&s.Settings, set, where+".settings")
			if len(d.problems) > before {
				return nil
			}
		}
		if c, ok := set.(channel.SettingsChecker); ok {
			if err := c.Check(ep); err != nil {
				d.addf(s.line, "%s: %v", where, err)
				return nil
			}
		}
		ep.Settings = set
	} else if s.Settings.Kind != 0 {
		d.addf(s.Settings.Line, "%s.settings: il canale %s non ha impostazioni (no settings for this kind)", where, s.Channel)
	}
	return ep
}

// sourceOf identifies what a receive endpoint reads: the kind's mailbox identity when it
// has one (PEC), else the URL and the account.
func (l *Loader) sourceOf(ep *channel.Endpoint) string {
	if k, ok := l.Channels.Lookup(ep.Kind); ok && k.Mailbox != nil {
		if mb := k.Mailbox(ep); mb != "" {
			return ep.Kind + "|" + mb
		}
	}
	u := *ep.URL
	u.Path = strings.TrimSuffix(u.Path, "/")
	return ep.Kind + "|" + u.String() + "|" + ep.Username
}

// partitaIVAValid checks the check digit of an 11-digit partita IVA / numeric codice
// fiscale (the Luhn-like algorithm of the Agenzia delle Entrate).
func partitaIVAValid(s string) bool {
	if len(s) != 11 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := int(s[i] - '0')
		if i%2 == 1 {
			c *= 2
			if c > 9 {
				c -= 9
			}
		}
		sum += c
	}
	return (10-sum%10)%10 == int(s[10]-'0')
}
