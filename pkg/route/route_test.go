package route

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
)

func loader(env map[string]string) *Loader {
	return &Loader{Channels: channel.NewRegistry(fs.Kind()), Getenv: func(k string) string { return env[k] }}
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.TrimLeft(body, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodEnte = `
ente:
  name: Comune di Esempio
  ipa: c_e000
  codice_fiscale: "00000000000"
  offices: [UFE000, {code: UFE001, name: Ragioneria}]
  pec: protocollo@pec.comune-esempio.it
auth:
  tokens: ["${ESEMPIO_TOKEN}"]
passive:
  protocol:
    channel: fs
    url: file:///var/snodo/esempio/protocollo
    settings:
      done_marker: true
    retry:
      max_attempts: 5
      initial: 30s
  outcome:
    channel: fs
    url: file:///var/snodo/esempio/esiti
    settings: {poll: 2s, pattern: "*_EC_*.xml"}
forward:
  - name: demo
    from: {channel: fs, url: "file:///var/snodo/esempio/inbox"}
    to: {channel: fs, url: "file:///var/snodo/esempio/outbox"}
`

func TestLoadGoodRoute(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "comune-esempio.yaml", goodEnte)
	r, err := loader(map[string]string{"ESEMPIO_TOKEN": "0123456789abcdef0123"}).LoadRoutes(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := r.Ente("comune-esempio")
	if !ok || e.Ente.Name != "Comune di Esempio" || e.Auth.Tokens[0].Value != "0123456789abcdef0123" {
		t.Fatalf("ente %+v", e)
	}
	if got, ok := r.ByOffice("ufe001"); !ok || got != e {
		t.Fatal("office lookup is not case-insensitive or missing")
	}
	ep, ok := r.Endpoint("comune-esempio", PassiveProtocol)
	if !ok || ep.URL.Path != "/var/snodo/esempio/protocollo" || !ep.Settings.(*fs.Settings).DoneMarker {
		t.Fatalf("endpoint %+v", ep)
	}
	spec, _ := r.Spec("comune-esempio", PassiveProtocol)
	if spec.Retry.MaxAttempts != 5 || spec.Retry.Initial.Seconds() != 30 {
		t.Fatalf("retry %+v", spec.Retry)
	}
	plan := r.Plan("comune-esempio")
	var phases []string
	for _, p := range plan {
		phases = append(phases, p.Phase+"/"+p.Direction.String())
	}
	if got := strings.Join(phases, " "); got != "passive.protocol/consegna (out) passive.outcome/ricezione (in) forward.demo.from/ricezione (in) forward.demo.to/consegna (out)" {
		t.Fatalf("plan %s", got)
	}
	if len(r.Warnings) != 0 {
		t.Fatalf("warnings %v", r.Warnings)
	}
}

// Each bad route file yields one problem naming the file, the line and the fix.
func TestBadRoutes(t *testing.T) {
	cases := []struct {
		name, body string
		line       int
		want       string
	}{
		{"unknown key", "ente:\n  name: X\n  codice_fiscale: \"00000000000\"\n  nmae: Y\n", 4, `chiave sconosciuta "nmae" (forse "name"?)`},
		{"bad yaml", "ente:\n  name: [x\n", 1, "YAML non valido"},
		{"bad url", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  protocol:\n    channel: fs\n    url: \"::bad\"\n", 4, "url"},
		{"wrong scheme", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  protocol:\n    channel: fs\n    url: ftp://host/x\n", 4, `schema "ftp" non vale per il canale fs`},
		{"unknown kind", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  protocol:\n    channel: fax\n    url: fax://1\n", 4, `tipo "fax" sconosciuto; tipi disponibili: fs`},
		{"missing secret", "ente: {name: X, codice_fiscale: \"00000000000\"}\nauth:\n  tokens: [\"${NOPE}\"]\n", 3, "variabile d'ambiente NOPE non impostata"},
		{"bad settings key", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  protocol:\n    channel: fs\n    url: file:///x\n    settings:\n      fsyncc: true\n", 7, `passive.protocol.settings: chiave sconosciuta "fsyncc" (forse "fsync"?)`},
		{"bad settings value", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  outcome:\n    channel: fs\n    url: file:///x\n    settings:\n      poll: often\n", 7, `valore "often" non valido per una durata`},
		{"bad check digit", "ente:\n  name: X\n  codice_fiscale: \"00000000001\"\n", 3, "cifra di controllo errata"},
		{"bad office", "ente:\n  name: X\n  codice_fiscale: \"00000000000\"\n  offices: [uf-1]\n", 4, `ufficio "uf-1" non valido`},
		{"credentials in url", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  protocol:\n    channel: fs\n    url: file://u:p@/x\n", 4, "credenziali nell'URL"},
		{"bad prevalidation mode", "ente: {name: X, codice_fiscale: \"00000000000\"}\npassive:\n  prevalidation:\n    on_failure: maybe\n", 4, "on_failure"},
		{"sign without key", "ente: {name: X, codice_fiscale: \"00000000000\"}\nactive:\n  sign:\n    format: cades\n", 3, "active.sign.cert: serve"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f := write(t, dir, "ente-x.yaml", c.body)
			_, err := loader(nil).LoadRoutes(dir)
			ps, ok := err.(Problems)
			if !ok || len(ps) == 0 {
				t.Fatalf("LoadRoutes = %v, want problems", err)
			}
			p := ps[0]
			if p.File != f || p.Line != c.line || !strings.Contains(p.Msg, c.want) {
				t.Fatalf("got %q (line %d), want %s:%d containing %q", p.Error(), p.Line, f, c.line, c.want)
			}
		})
	}
}

func TestOfficeClaimedTwice(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", "ente:\n  name: A\n  codice_fiscale: \"00000000000\"\n  offices: [UFABCD]\n")
	b := write(t, dir, "b.yaml", "ente:\n  name: B\n  codice_fiscale: \"00000000000\"\n  offices:\n    - UFXXXX\n    - ufabcd\n")
	_, err := loader(nil).LoadRoutes(dir)
	ps, _ := err.(Problems)
	if len(ps) != 1 || ps[0].File != b || ps[0].Line != 6 || !strings.Contains(ps[0].Msg, "ufficio UFABCD già servito da a (") {
		t.Fatalf("got %v", err)
	}
}

func TestPlainSecretIsAWarning(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", "ente:\n  name: A\n  codice_fiscale: \"00000000000\"\nauth:\n  tokens: [\"0123456789abcdef0123\"]\n")
	r, err := loader(nil).LoadRoutes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || r.Warnings[0].Line != 5 || !strings.Contains(r.Warnings[0].Msg, "in chiaro") {
		t.Fatalf("warnings %v", r.Warnings)
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token.txt"), []byte("  fedcba9876543210fedcba\n"), 0o600)
	write(t, dir, "a.yaml", "ente:\n  name: A\n  codice_fiscale: \"00000000000\"\nauth:\n  tokens: [\"file:token.txt\"]\n")
	r, err := loader(nil).LoadRoutes(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.Ente("a")
	if e.Auth.Tokens[0].Value != "fedcba9876543210fedcba" || e.Auth.Tokens[0].Plain {
		t.Fatalf("token %+v", e.Auth.Tokens[0])
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loader(nil).LoadConfig(filepath.Join(dir, "missing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.HTTP != "127.0.0.1:8080" || cfg.Store.Driver != "sqlite" || cfg.DataDir != filepath.Join(dir, "data") {
		t.Fatalf("defaults %+v", cfg)
	}
	f := write(t, dir, "snodo.yaml", "listen:\n  http: 0.0.0.0:8080\nstore:\n  driver: oracle\nlog:\n  level: chatty\n")
	_, err = loader(nil).LoadConfig(f)
	ps, _ := err.(Problems)
	if len(ps) != 3 {
		t.Fatalf("problems %v", err)
	}
	for i, want := range []struct {
		line int
		msg  string
	}{{2, "allow_plain_http"}, {4, `store.driver: "oracle"`}, {6, `log.level: "chatty"`}} {
		if ps[i].Line != want.line || !strings.Contains(ps[i].Msg, want.msg) {
			t.Errorf("problem %d = %v, want line %d with %q", i, ps[i], want.line, want.msg)
		}
	}
}

func TestRelativeFileURLsLiveUnderDataDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", "ente:\n  name: A\n  codice_fiscale: \"00000000000\"\npassive:\n  protocol: {channel: fs, url: \"file:a/protocollo\"}\n")
	l := loader(nil)
	l.DataDir = "/srv/snodo"
	r, err := l.LoadRoutes(dir)
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := r.Endpoint("a", PassiveProtocol)
	if ep.URL.Path != "/srv/snodo/a/protocollo" {
		t.Fatalf("path %s", ep.URL.Path)
	}
}

func TestTwoReceiversOnOneSource(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", "ente:\n  name: A\n  codice_fiscale: \"00000000000\"\npassive:\n  outcome: {channel: fs, url: \"file:///srv/in\"}\n")
	b := write(t, dir, "b.yaml", "ente:\n  name: B\n  codice_fiscale: \"00000000000\"\nactive:\n  submit: {channel: fs, url: \"file:///srv/in/\"}\n")
	_, err := loader(nil).LoadRoutes(dir)
	ps, _ := err.(Problems)
	if len(ps) != 1 || ps[0].File != b || ps[0].Line != 5 || !strings.Contains(ps[0].Msg, "stessa sorgente di a/passive.outcome") {
		t.Fatalf("got %v", err)
	}
}
