package sdipec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/route"
)

// loadConfig writes snodo.yaml with the given sdi: section and loads it as the hub does.
func loadConfig(t *testing.T, dir, sdiSection string) *route.Config {
	t.Helper()
	path := filepath.Join(dir, "snodo.yaml")
	body := "data_dir: data\ntrust: {pec: gestori}\n" + sdiSection
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind(), pecchannel.Kind()), Getenv: func(k string) string {
		if k == "SDI_PEC_PASSWORD" {
			return "segreta"
		}
		return ""
	}}
	cfg, err := l.LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

func TestResolveMailbox(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "gestori"), 0o755)
	os.WriteFile(filepath.Join(dir, "pec-ca.pem"), []byte("x"), 0o644)
	tests := []struct {
		name, sdi string
		err       string // "" = resolves
		check     func(t *testing.T, mb *sdipec.Mailbox)
	}{
		{name: "imaps url with smtp", sdi: `sdi:
  channel: pec
  pec:
    url: imaps://imap.pec.example.it/INBOX
    username: Fatture@Pec.Ente.it
    password: ${SDI_PEC_PASSWORD}
    tls: {ca: pec-ca.pem}
    settings: {smtp: "smtps://smtp.pec.example.it:465", poll: 10s}
`, check: func(t *testing.T, mb *sdipec.Mailbox) {
			if mb.Reader.URL.String() != "imaps://imap.pec.example.it/INBOX" || mb.Sender.URL.String() != "mailto:sdi01@pec.fatturapa.it" {
				t.Errorf("reader %s sender %s", mb.Reader.URL, mb.Sender.URL)
			}
			if mb.Address != "fatture@pec.ente.it" || mb.FirstSdI != "sdi01@pec.fatturapa.it" || mb.MaxMessageBytes() != 30_000_000 {
				t.Errorf("address %s first %s max %d", mb.Address, mb.FirstSdI, mb.MaxMessageBytes())
			}
			if mb.Reader.Password != "segreta" || mb.Reader.TLS.CAFile != filepath.Join(dir, "pec-ca.pem") {
				t.Errorf("password %q ca %q", mb.Reader.Password, mb.Reader.TLS.CAFile)
			}
			if mb.Settings.Trust != filepath.Join(dir, "gestori") {
				t.Errorf("trust %q: want trust.pec", mb.Settings.Trust)
			}
			if !mb.Sender.Settings.(*pecchannel.Settings).AllowRecipientOverride {
				t.Error("the sender cannot name the learned SdI box")
			}
		}},
		{name: "mailto url with imap, own address and limit", sdi: `sdi:
  channel: pec
  address: sdi01@pec.sdi.test
  pec:
    url: mailto:sdi01@pec.sdi.test
    username: utente
    password: segreta
    settings: {smtp: "smtps://smtp.pec.example.it", imap: "imaps://imap.pec.example.it/SdI", from: fatture@pec.ente.it, max_message_size: 20000000}
`, check: func(t *testing.T, mb *sdipec.Mailbox) {
			if mb.Reader.URL.String() != "imaps://imap.pec.example.it/SdI" || mb.Address != "fatture@pec.ente.it" || mb.FirstSdI != "sdi01@pec.sdi.test" {
				t.Errorf("reader %s address %s first %s", mb.Reader.URL, mb.Address, mb.FirstSdI)
			}
			if mb.MaxMessageBytes() != 20_000_000 {
				t.Errorf("max %d", mb.MaxMessageBytes())
			}
		}},
		{name: "no sdi.pec", sdi: "sdi: {channel: pec}\n", err: "manca sdi.pec"},
		{name: "unknown setting", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imaps://h/INBOX\", username: u@pec.it, password: p, settings: {smpt: \"smtps://h\"}}\n", err: "smpt"},
		{name: "mailto without imap", sdi: "sdi:\n  channel: pec\n  pec: {url: \"mailto:sdi01@pec.fatturapa.it\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\"}}\n",
			err: "manca settings.imap"},
		{name: "another channel", sdi: "sdi:\n  channel: pec\n  pec: {channel: ftp, url: \"imaps://h/INBOX\", username: u@pec.it, password: p}\n", err: "canale è pec"},
		{name: "insecure", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imaps://h/INBOX\", username: u@pec.it, password: p, tls: {insecure_skip_verify: true}, settings: {smtp: \"smtps://h\"}}\n",
			err: "insecure_skip_verify"},
		{name: "https url", sdi: "sdi:\n  channel: pec\n  pec: {url: \"https://h/x\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\"}}\n", err: "schema"},
		{name: "no smtp", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imaps://h/INBOX\", username: u@pec.it, password: p}\n", err: "settings.smtp"},
		{name: "plain imap beyond loopback", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imap+plain://10.0.0.1/INBOX\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\"}}\n",
			err: "127.0.0.1"},
		{name: "bad sdi.address", sdi: "sdi:\n  channel: pec\n  address: nessuno\n  pec: {url: \"imaps://h/INBOX\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\"}}\n",
			err: "sdi.address"},
		{name: "credentials in the url", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imaps://u:p@h/INBOX\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\"}}\n",
			err: "credenziali"},
		{name: "missing trust folder", sdi: "sdi:\n  channel: pec\n  pec: {url: \"imaps://h/INBOX\", username: u@pec.it, password: p, settings: {smtp: \"smtps://h\", trust: nessuna}}\n",
			err: "trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, dir, tc.sdi)
			mb, err := sdipec.ResolveMailbox(cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, mb)
		})
	}
}

func TestIsSdIAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"sdi01@pec.fatturapa.it", true},
		{"SDI27@PEC.FATTURAPA.IT", true},
		{"sdi123@pec.fatturapa.it", true},
		{"sdi1@pec.fatturapa.it", false},
		{"sdi01@pec.fatturapa.it.evil.example", false},
		{"sdi01@fatturapa.it", false},
		{"posta-certificata@pec.fatturapa.it", false},
		{"sdi01x@pec.fatturapa.it", false},
		{"", false},
	} {
		if got := sdipec.IsSdIAddress(tc.addr, "sdi01@pec.fatturapa.it"); got != tc.want {
			t.Errorf("IsSdIAddress(%q) = %v", tc.addr, got)
		}
	}
}

func TestEncodedSize(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 57, 58, 1 << 20, 22_000_000} {
		b64 := (n + 2) / 3 * 4
		lines := (b64 + 75) / 76
		if got := sdipec.EncodedSize(n); got != int64(b64+2*lines) {
			t.Errorf("EncodedSize(%d) = %d", n, got)
		}
	}
	// About 21.9 MB of file is the most a 30 MB PEC carries.
	if sdipec.EncodedSize(21_800_000) > 30_000_000 || sdipec.EncodedSize(22_000_000) < 30_000_000 {
		t.Error("the 30 MB budget does not sit between 21.8 and 22 MB of file")
	}
	// The estimate is what the PEC composer really writes.
	size := func(n int) int {
		raw, _, err := compose.Build(compose.Mail{From: "a@pec.example.it", To: []string{"sdi01@pec.fatturapa.it"}, Subject: "IT01234567890_00001.xml",
			Text: "x", Attachments: []compose.Attachment{{Name: "IT01234567890_00001.xml", ContentType: "application/xml", Data: bytes.Repeat([]byte{0xA5}, n)}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(raw)
	}
	small, big := size(1), size(1<<20)
	if got, want := int64(big-small), sdipec.EncodedSize(1<<20)-sdipec.EncodedSize(1); got < want-8 || got > want+8 {
		t.Errorf("1 MiB attachment adds %d bytes to the PEC, estimate %d", got, want)
	}
}

// TestExampleConfig: the example configuration of docs/sdi-pec.md resolves.
func TestExampleConfig(t *testing.T) {
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind(), pecchannel.Kind()), Getenv: func(k string) string {
		return map[string]string{"SNODO_SDI_PEC_PASSWORD": "segreta"}[k]
	}}
	cfg, err := l.LoadConfig("../../../testdata/sdipec/snodo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := sdipec.ResolveMailbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SdI.Channel != "pec" || mb.Address != "fatturazione@pec.ente.example.it" || mb.Reader.Password != "segreta" ||
		mb.Sender.URL.String() != "mailto:sdi01@pec.fatturapa.it" || !strings.HasSuffix(mb.Settings.Trust, "testdata/sdipec/gestori") ||
		mb.Settings.Ack != "move" || mb.MaxMessageBytes() != 30_000_000 {
		t.Fatalf("%+v %+v", mb, mb.Settings)
	}
}
