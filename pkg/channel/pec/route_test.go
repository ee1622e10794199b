package pec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/route"
)

// TestRouteFile: a route file names pec endpoints the way an integrator writes them,
// and the route loader decodes the settings strictly and checks them.
func TestRouteFile(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	os.Mkdir(trust, 0o755)
	body := `ente:
  name: Comune A
  ipa: c_a000
  codice_fiscale: "00000000000"
forward:
  - name: all-ente
    from:
      channel: pec
      url: imaps://imaps.pec.example.it/INBOX
      username: hub@pec.example.it
      password: ${PEC_PASSWORD}
      settings: {trust: ` + trust + `, poll: 1m, ack: move, quarantine: Scartati}
    to:
      channel: pec
      url: mailto:protocollo@pec.comune-a.example.it
      username: hub@pec.example.it
      password: ${PEC_PASSWORD}
      settings:
        smtp: smtps://smtps.pec.example.it:465
        imap: imaps://imaps.pec.example.it/INBOX
        receipt_timeout: 12h
        max_attempts: 4
        tipo_ricevuta: breve
`
	f := filepath.Join(dir, "comune-a.yaml")
	os.WriteFile(f, []byte(body), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind(), Kind()), Getenv: func(k string) string {
		if k == "PEC_PASSWORD" {
			return "segreta"
		}
		return ""
	}}
	rs, err := l.LoadFiles([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	to, ok := rs.Endpoint("comune-a", route.ForwardPhase("all-ente", false))
	if !ok {
		t.Fatal("sender endpoint missing")
	}
	set := to.Settings.(*Settings)
	if set.ReceiptTimeout != 12*time.Hour || set.MaxAttempts != 4 || set.TipoRicevuta != "breve" || to.Password != "segreta" {
		t.Fatalf("settings %+v", set)
	}
	if _, err := newSender(to, channel.Deps{}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReceiptReceiver(to, channel.Deps{}); err != nil {
		t.Fatalf("receipt receiver: %v", err)
	}
	from, _ := rs.Endpoint("comune-a", route.ForwardPhase("all-ente", true))
	if _, err := newReceiver(from, channel.Deps{}); err == nil || !strings.Contains(err.Error(), "no certificate found") {
		t.Fatalf("empty trust folder not refused at start: %v", err)
	}

	// A typo in a setting, and a wrong value, fail at load naming the file and line.
	for _, tc := range []struct{ old, new, want string }{
		{"max_attempts: 4", "max_attemps: 4", "max_attemps"},
		{"smtps://smtps.pec.example.it:465", "smtp+plain://smtps.pec.example.it:25", "loopback"},
		{"mailto:protocollo@pec.comune-a.example.it", "mailto:protocollo", "not a valid address"},
		{"imaps://imaps.pec.example.it/INBOX\n      username", "ftp://x/INBOX\n      username", "wrong scheme"},
	} {
		os.WriteFile(f, []byte(strings.Replace(body, tc.old, tc.new, 1)), 0o644)
		_, err = l.LoadFiles([]string{f})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "comune-a.yaml:") {
			t.Errorf("%s: %v", tc.new, err)
		}
	}
}
