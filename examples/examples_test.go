// Package examples_test keeps the gallery in examples/ and the operator documentation
// (docs/configuration.md, routes.md, channels.md, operations.md) honest against the code.
//
//   - Every hub configuration of the gallery (examples/<setup>/snodo.yaml) and every route
//     file of its routes/ folder loads with the hub's own loader — the registry of
//     cmd/snodo's channelKinds, flowkit.CheckRules, a fake environment that defines the
//     ${VARS} the gallery uses — with no problem and no warning (no plain-text secret);
//     then every endpoint is built as the hub builds it at start (senders, receivers,
//     PEC receipt readers), the pagoPA configuration, the signature trust, the SdI
//     client, the TLS listener and the API credentials are checked the way the running
//     hub checks them.
//   - Every YAML block of the docs parses; a block that is a hub configuration or a route
//     file (or a section of one) loads the same way.
//   - Every key of snodo.yaml, of a route file, of a pre-validation rule and of each
//     channel kind's settings has a row in a reference table of the docs, and every row
//     names a key that exists: a table is marked by an HTML comment
//     <!-- chiavi: SET --> on the line before it.
//
// The gallery is written for a real machine: /etc/snodo (configuration, TLS, trust),
// /var/lib/snodo (data), /run/credentials/snodo.service (systemd credentials), /srv
// (shared folders). The test copies it under a temporary root, moving those prefixes
// there, and creates the files the examples name (certificates from a throwaway CA,
// secrets), so that what is checked is the files as an operator copies them.
package examples_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	fschannel "snodo/pkg/channel/fs"
	"snodo/pkg/channel/ftp"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/channel/ws"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/pagopa/pagopamod"
	"snodo/pkg/route"
	"snodo/pkg/store"
	"snodo/pkg/testpki"
	"snodo/pkg/tlsconf"
)

// channelKinds is the registry of cmd/snodo/modules.go channelKinds(): the kinds the
// binary carries. TestRegistryMatchesBinary keeps the two lists equal.
func channelKinds() *channel.Registry {
	return channel.NewRegistry(
		fschannel.Kind(),
		ftp.Kind(),
		pecchannel.Kind(),
		ws.Kind(),
	)
}

// kindPackages are the packages of channelKinds above.
var kindPackages = []string{"snodo/pkg/channel/fs", "snodo/pkg/channel/ftp", "snodo/pkg/channel/pec", "snodo/pkg/channel/ws"}

// TestRegistryMatchesBinary reads cmd/snodo/modules.go and checks that its
// channelKinds() registers the kinds of the same packages as this test's registry.
func TestRegistryMatchesBinary(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../cmd/snodo/modules.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]string{} // local name → path
	for _, imp := range f.Imports {
		p := strings.Trim(imp.Path.Value, `"`)
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imports[name] = p
	}
	var got []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "channelKinds" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Kind" {
				if id, ok := sel.X.(*ast.Ident); ok {
					got = append(got, imports[id.Name])
				}
			}
			return true
		})
	}
	sort.Strings(got)
	want := slices.Clone(kindPackages)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("cmd/snodo channelKinds() registra %v, la prova %v: aggiornare channelKinds e kindPackages qui (registries differ)", got, want)
	}
}

// env is the environment of the gallery's hub: every ${VAR} the examples and the docs
// use. An unknown variable is a load problem, so a new one must be added here.
var env = map[string]string{
	"SNODO_POSTGRES_DSN":          "postgres://snodo@db.interno.example:5432/snodo?sslmode=verify-full",
	"SNODO_PEC_PASSIVO_PASSWORD":  "pec-passivo-segreta-1",
	"SNODO_PEC_ATTIVO_PASSWORD":   "pec-attivo-segreta-22",
	"SNODO_PEC_PASSWORD":          "pec-hub-segreta-333",
	"SNODO_VALLE_API_PASSWORD":    "valle-api-segreta-4444",
	"SNODO_VALLE_FTP_PASSWORD":    "valle-ftp-segreta-55555",
	"SNODO_VALLE_WS_PASSWORD":     "valle-ws-segreta-666666",
	"SNODO_ASL_TOKEN":             "asl-token-0123456789abcdef",
	"SNODO_ASL_PROTOCOLLO_TOKEN":  "asl-protocollo-0123456789abcdef",
	"SNODO_ASL_CONTABILITA_TOKEN": "asl-contabilita-0123456789abcdef",
	"SNODO_COLLINA_FTP_PASSWORD":  "collina-ftp-segreta-7",
	"SNODO_COLLINA_TRIBUTI_TOKEN": "collina-tributi-0123456789abcdef",
	"SNODO_FTP_PASSWORD":          "ftp-segreta-88888888",
	"SNODO_WS_PASSWORD":           "ws-segreta-999999999",
	"SNODO_ENTE_TOKEN":            "ente-token-0123456789abcdef",
}

func getenv(k string) string { return env[k] }

// roots are the machine paths the gallery and the docs use; the test moves them under
// a temporary folder.
var roots = []string{"/etc/snodo", "/var/lib/snodo", "/run/credentials/snodo.service", "/srv/"}

func loader() *route.Loader {
	return &route.Loader{Channels: channelKinds(), CheckRules: flowkit.CheckRules, Getenv: getenv}
}

// relocate rewrites the machine paths of a file's text under root.
func relocate(text, root string) string {
	for _, r := range roots {
		text = strings.ReplaceAll(text, r, filepath.Join(root, r)+strings.Repeat("/", boolInt(strings.HasSuffix(r, "/"))))
	}
	return text
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pki is one throwaway CA and one certificate with its key, written wherever an example
// names a certificate, a key or a CA: every pair matches.
type pki struct {
	caPEM, certPEM, keyPEM []byte
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
	pkiErr  error
)

func getPKI(t *testing.T) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		ca, err := testpki.NewCA("CA degli esempi di snodo", testpki.Options{})
		if err != nil {
			pkiErr = err
			return
		}
		leaf, err := ca.Server("hub.snodo.example", testpki.Options{DNSNames: []string{"hub.snodo.example"}})
		if err != nil {
			pkiErr = err
			return
		}
		key, err := testpki.KeyPEM(leaf.Key)
		if err != nil {
			pkiErr = err
			return
		}
		pkiVal = &pki{caPEM: testpki.CertPEM(ca.Cert), certPEM: testpki.CertPEM(leaf.Cert), keyPEM: key}
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

// materialize creates the files a YAML file names (after relocation under root): TLS
// certificates, keys and CAs, trust folders, file: secrets. A path under root whose key
// the test does not know fails the test, so a new kind of file gets a rule here.
func materialize(t *testing.T, file, root string, doc *yaml.Node) {
	t.Helper()
	p := getPKI(t)
	dir := filepath.Dir(file)
	write := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// scalar handles one value of key k.
	scalar := func(k, val string) {
		if k == "url" || k == "data_dir" || k == "routes_dir" || strings.Contains(val, "${") {
			return
		}
		if ref, ok := strings.CutPrefix(val, "file:"); ok {
			if !filepath.IsAbs(ref) {
				ref = filepath.Join(dir, ref)
			}
			// Each secret differs: the API refuses a token two enti share.
			write(ref, []byte(filepath.Base(ref)+"-segreto-degli-esempi-0123456789\n"))
			return
		}
		path := val
		switch k {
		case "cert", "key", "ca", "client_ca", "signatures":
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
		}
		if !strings.HasPrefix(path, root+string(filepath.Separator)) {
			return
		}
		switch k {
		case "cert":
			write(path, p.certPEM)
		case "key":
			write(path, p.keyPEM)
		case "ca", "client_ca":
			write(path, p.caPEM)
		case "trust", "signatures", "pec":
			write(filepath.Join(path, "ca.pem"), p.caPEM)
		case "processed", "rejected", "outcome_dir":
			// folders the channels create when they run
		default:
			t.Fatalf("%s: percorso %s della chiave %q: il test non sa che file creare; aggiungere una regola a materialize", file, val, k)
		}
	}
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], n.Content[i].Value)
			}
		case yaml.ScalarNode:
			scalar(key, n.Value)
		default:
			for _, c := range n.Content {
				walk(c, key)
			}
		}
	}
	walk(doc, "")
}

// setups are the folders of the gallery holding a snodo.yaml.
func setups(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(e.Name(), "snodo.yaml")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("nessuna configurazione nella galleria (no snodo.yaml under examples/)")
	}
	return out
}

// install copies a setup folder to <root>/etc/snodo with the machine paths relocated,
// creates the files its YAML names, and returns the path of its snodo.yaml.
func install(t *testing.T, setup, root string) string {
	t.Helper()
	etc := filepath.Join(root, "etc", "snodo")
	err := filepath.WalkDir(setup, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(setup, path)
		target := filepath.Join(etc, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, []byte(relocate(string(data), root)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(etc, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(path) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		materialize(t, path, root, &doc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(etc, "snodo.yaml")
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

// load loads a hub configuration and its route files; any problem or warning fails.
func load(t *testing.T, configFile string) (*route.Config, *route.Routes) {
	t.Helper()
	l := loader()
	cfg, err := l.LoadConfig(configFile)
	if err != nil {
		t.Fatalf("configurazione non valida (invalid configuration):\n%v", err)
	}
	l.DataDir = cfg.DataDir
	routes, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatalf("rotte non valide (invalid routes):\n%v", err)
	}
	for _, w := range routes.Warnings {
		t.Errorf("attenzione (warning): %v", w)
	}
	return cfg, routes
}

// TestGallery loads every configuration of the gallery with its route files and checks
// them as the hub does at start.
func TestGallery(t *testing.T) {
	for _, setup := range setups(t) {
		t.Run(setup, func(t *testing.T) {
			root := t.TempDir()
			cfg, routes := load(t, install(t, setup, root))
			files, _ := filepath.Glob(filepath.Join(setup, "routes", "*.yaml"))
			if len(routes.Enti) != len(files) || len(files) == 0 {
				t.Fatalf("%d file di rotta in %s/routes, %d enti caricati", len(files), setup, len(routes.Enti))
			}
			for _, e := range routes.Enti {
				if len(routes.Plan(e.ID())) == 0 {
					t.Errorf("%s: nessuna fase configurata: un esempio mostra almeno una fase (no phase)", e.File)
				}
			}
			for _, err := range startProblems(cfg, routes, root) {
				t.Error(err)
			}
		})
	}
}

// startProblems does what the hub does with a loaded configuration before it serves:
// build every endpoint, the pagoPA configuration, the validator with its signature
// trust, the SdI client, the TLS listener and the API's credentials. It returns every
// problem found.
func startProblems(cfg *route.Config, routes *route.Routes, root string) []error {
	var out []error
	add := func(format string, args ...any) { out = append(out, fmt.Errorf(format, args...)) }
	log := slog.New(slog.DiscardHandler)
	reg := channelKinds()
	for _, e := range routes.Enti {
		for _, p := range routes.Plan(e.ID()) {
			kind, _ := reg.Lookup(p.Endpoint.Kind)
			deps := channel.Deps{Logger: log, DataDir: filepath.Join(root, "channels", e.ID(), p.Phase)}
			switch p.Direction {
			case route.Receive:
				if _, err := kind.NewReceiver(p.Endpoint, deps); err != nil {
					add("%s: %s: ricevitore (receiver): %v", e.File, p.Phase, err)
				}
			default:
				s, err := kind.NewSender(p.Endpoint, deps)
				if err != nil {
					add("%s: %s: mittente (sender): %v", e.File, p.Phase, err)
					continue
				}
				s.Close()
				if kind.NewReceiptReceiver != nil {
					if _, err := kind.NewReceiptReceiver(p.Endpoint, deps); err != nil {
						add("%s: %s: lettore delle ricevute (receipt reader): %v", e.File, p.Phase, err)
					}
				}
			}
		}
	}
	out = append(out, oneReceiverPerSource(routes, reg)...)
	if _, err := flowkit.NewValidator(cfg, nil, nil, log); err != nil {
		add("validatore (validator): %v", err)
	}
	if cfg.SdI.RiceviFileURL != "" {
		if _, err := flowkit.NewSdIClient(cfg, log); err != nil {
			add("client SdI: %v", err)
		}
	}
	if lt := cfg.Listen.TLS; cfg.Listen.HTTPS != "" {
		if _, err := (tlsconf.Server{CertFile: lt.Cert, KeyFile: lt.Key, ClientCA: lt.ClientCA, MinVersion: lt.MinVersion}).Config(); err != nil {
			add("listen.tls: %v", err)
		}
	}
	// The modules that read the routes at start, on a real store, as cmd/snodo wires
	// them: the API for enti (credentials, proxies) and pagoPA (broker, stations, enti).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	enti := api.NewModule(nil, nil)
	pay := pagopamod.New(pagopamod.Options{EnteFromRequest: enti.EnteFromRequest})
	st, err := store.OpenSQLite(ctx, filepath.Join(root, "store"), store.Options{Migrations: pay.Migrations()})
	if err != nil {
		return append(out, err)
	}
	defer st.Close()
	h, err := hub.New(hub.Options{Config: cfg, Routes: routes, Channels: reg, Logger: log, Store: st})
	if err != nil {
		return append(out, err)
	}
	h.Store = st
	for _, m := range []hub.Module{enti, pay} {
		if err := m.Init(h); err != nil {
			add("modulo %s: %v", m.Name(), err)
		}
	}
	if hasPayments(routes) && pay.Config() == nil {
		add("pagoPA: enti con payments.station ma servizi pagoPA non attivi (payments configured, services off)")
	}
	return out
}

func hasPayments(routes *route.Routes) bool {
	for _, e := range routes.Enti {
		if e.Payments.Station != "" {
			return true
		}
	}
	return false
}

// oneReceiverPerSource checks the rule docs/channels.md states: a folder or a mailbox
// is read by one receive phase only (two receivers would take each other's items).
func oneReceiverPerSource(routes *route.Routes, reg *channel.Registry) []error {
	var out []error
	seen := map[string]string{}
	for _, e := range routes.Enti {
		for _, p := range routes.Plan(e.ID()) {
			if p.Direction != route.Receive {
				continue
			}
			kind, _ := reg.Lookup(p.Endpoint.Kind)
			key := p.Endpoint.Kind + " " + p.Endpoint.URL.String() + " " + p.Endpoint.Username
			if kind.Mailbox != nil {
				key = kind.Mailbox(p.Endpoint)
			}
			if prev, dup := seen[key]; dup {
				out = append(out, fmt.Errorf("%s: %s legge la stessa sorgente di %s: una sorgente, un solo ricevitore (one source, one receiver)", e.File, p.Phase, prev))
			}
			seen[key] = e.ID() + "/" + p.Phase
		}
	}
	return out
}

// fileLine is how a loader problem starts: the file and the line.
var fileLine = regexp.MustCompile(`(?m)^/\S+\.yaml:\d+: `)

// TestGalleryIsChecked shows the checks above can fail: mutations of a gallery file
// that an operator might make are refused, each with the file and line.
func TestGalleryIsChecked(t *testing.T) {
	cases := []struct {
		name, setup, file, old, new, want string
		atStart                           bool // refused when the hub starts, not by the loader
	}{
		{"chiave sbagliata", "produzione", "routes/comune-di-monteverde.yaml", "receipt_timeout: 24h", "receipt_timout: 24h", `chiave sconosciuta "receipt_timout"`, false},
		{"variabile mancante", "produzione", "routes/comune-di-valle.yaml", "${SNODO_VALLE_WS_PASSWORD}", "${SNODO_VALLE_WS_PASWORD}", "SNODO_VALLE_WS_PASWORD non impostata", false},
		{"ufficio di due enti", "produzione", "routes/asl-esempio.yaml", "code: UFASL2", "code: UFVL01", "ufficio UFVL01 già servito", false},
		{"regola errata", "produzione", "routes/asl-esempio.yaml", "path: DatiGenerali/DatiOrdineAcquisto/IdDocumento", "path: DatiGenerali/DatiOrdine/IdDocumento", "regola", false},
		{"contratto mancante", "produzione", "routes/comune-di-valle.yaml", "contract: intermediamarche-notifica-attiva", "", "contract mancante", false},
		{"DSN mancante", "produzione", "snodo.yaml", "dsn: ${SNODO_POSTGRES_DSN}", "dsn: \"\"", "store.dsn", false},
		{"driver sconosciuto", "server-singolo", "snodo.yaml", "driver: sqlite", "driver: sqlit", `store.driver: "sqlit" sconosciuto`, false},
		{"token di due enti", "produzione", "routes/comune-di-collina.yaml", "tokens: [file:/run/credentials/snodo.service/collina-token]", `tokens: ["${SNODO_ASL_TOKEN}"]`, "lo stesso token", true},
		{"casella letta due volte", "produzione", "routes/comune-di-monteverde.yaml", "    username: hub-attivo@pec.snodo.example\n    password: ${SNODO_PEC_ATTIVO_PASSWORD}\n    settings:\n      trust:", "    username: hub-passivo@pec.snodo.example\n    password: ${SNODO_PEC_PASSIVO_PASSWORD}\n    settings:\n      trust:", "stessa sorgente", false},
		{"stazione sconosciuta", "produzione", "routes/comune-di-collina.yaml", `station: "80001122334_01"`, `station: "80001122334_09"`, "stazione 80001122334_09 non configurata", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			cfgFile := install(t, c.setup, root)
			target := filepath.Join(filepath.Dir(cfgFile), c.file)
			data, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			old, repl := relocate(c.old, root), relocate(c.new, root)
			if !strings.Contains(string(data), old) {
				t.Fatalf("%s non contiene %q: aggiornare il caso di prova", c.file, c.old)
			}
			if err := os.WriteFile(target, []byte(strings.Replace(string(data), old, repl, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			l := loader()
			cfg, err := l.LoadConfig(cfgFile)
			var routes *route.Routes
			if err == nil {
				l.DataDir = cfg.DataDir
				routes, err = l.LoadRoutes(cfg.RoutesDir)
			}
			if c.atStart {
				if err != nil {
					t.Fatalf("refused by the loader, expected at start: %v", err)
				}
				err = errors.Join(startProblems(cfg, routes, root)...)
			}
			if err == nil {
				t.Fatalf("modifica %q → %q accettata (mutation accepted)", c.old, c.new)
			}
			if !strings.Contains(err.Error(), c.want) || !c.atStart && !fileLine.MatchString(err.Error()) {
				t.Fatalf("errore senza %q o senza file:riga:\n%v", c.want, err)
			}
		})
	}
}

// TestReadmeListsGallery: examples/README.md names every file of the gallery.
func TestReadmeListsGallery(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(path) {
			return err
		}
		if !strings.Contains(string(readme), path) {
			t.Errorf("README.md non cita %s (README does not list it)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
