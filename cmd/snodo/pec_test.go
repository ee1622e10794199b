package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/testpki"
)

// pecFixtures writes real PEC messages and the provider's trust folder.
func pecFixtures(t *testing.T) (dir, trust string, files map[string]string) {
	t.Helper()
	dir = t.TempDir()
	ca := testpki.MustCA("CA gestori PEC di prova")
	iss, err := ca.Signing("Gestore PEC di prova", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &gestore.Provider{Name: "Gestore PEC di prova", Domain: "pec.gestore.example"}
	p.Signer.Cert, p.Signer.Key = iss.Cert, iss.Key
	trust = filepath.Join(dir, "trust")
	os.Mkdir(trust, 0o755)
	if _, err := ca.WriteFile(trust, "ca"); err != nil {
		t.Fatal(err)
	}
	rc, err := os.ReadFile("../../testdata/sdi/notifications/sdi-official/IT01234567890_11111_RC_001.xml")
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := compose.Build(compose.Mail{From: "sdi01@pec.fatturapa.it", To: []string{"protocollo@pec.comune.example.it"},
		Subject: "Ricevuta di consegna 111", Text: "ricevuta", Attachments: []compose.Attachment{
			{Name: "IT01234567890_11111_RC_001.xml", ContentType: "application/octet-stream", Data: rc},
			pectest.Invoice,
		}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := gestore.ReadOriginal(raw)
	if err != nil {
		t.Fatal(err)
	}
	env, err := p.Envelope(o, p.NewIdentificativo())
	if err != nil {
		t.Fatal(err)
	}
	acc, err := p.Receipt(o, gestore.Receipt{Tipo: daticert.Accettazione})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _ := compose.Build(compose.Mail{From: "a@example.com", To: []string{"b@example.com"}, Subject: "ciao", Text: "ciao"})
	files = map[string]string{}
	for name, b := range map[string][]byte{"busta.eml": env, "accettazione.eml": acc, "ordinaria.eml": plain,
		"alterata.eml": bytes.Replace(env, []byte("ricevuta"), []byte("ricevutA"), 1)} {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return dir, trust, files
}

func TestPECInspectJSON(t *testing.T) {
	_, trust, files := pecFixtures(t)
	code, out, errOut := runCLI(t, "pec", "inspect", "--trust", trust, "--format", "json", files["busta.eml"], files["accettazione.eml"])
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var busta, acc inspectResult
	if err := dec.Decode(&busta); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&acc); err != nil {
		t.Fatal(err)
	}
	if busta.Type != "posta-certificata" || !busta.Valid || !busta.Signature.Valid || !strings.Contains(busta.Signature.Signer, "Gestore PEC di prova") {
		t.Fatalf("busta: %+v %+v", busta, busta.Signature)
	}
	if busta.Daticert == nil || busta.Daticert.Mittente != "sdi01@pec.fatturapa.it" || busta.Daticert.Tipo != "posta-certificata" {
		t.Fatalf("daticert %+v", busta.Daticert)
	}
	if len(busta.Attachments) != 2 {
		t.Fatalf("attachments %+v", busta.Attachments)
	}
	rc, inv := busta.Attachments[0], busta.Attachments[1]
	if rc.SdIType != "RC" || rc.IdentificativoSdI != "111" || rc.SdIFile != "IT01234567890_11111.xml.p7m" || inv.SdIType != "fattura" {
		t.Fatalf("SdI attachments %+v %+v", rc, inv)
	}
	if acc.Type != "accettazione" || !acc.Valid || len(acc.Attachments) != 0 {
		t.Fatalf("accettazione %+v", acc)
	}
	// The raw JSON carries the fields the brief names.
	for _, key := range []string{`"file":`, `"type":`, `"signature":{"valid":true`, `"signer":`, `"daticert":{`, `"attachments":[`, `"sdi_type":"RC"`, `"size":`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestPECInspectInvalid(t *testing.T) {
	_, trust, files := pecFixtures(t)
	code, out, _ := runCLI(t, "pec", "inspect", "--trust", trust, "--format", "json", files["ordinaria.eml"], files["alterata.eml"],
		"../../testdata/pec/samples/consegna.eml", filepath.Join(t.TempDir(), "manca.eml"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var rs []inspectResult
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r inspectResult
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results", len(rs))
	}
	if rs[0].Type != "non-pec" || rs[0].PEC || !strings.Contains(rs[0].Error, "not a PEC") {
		t.Fatalf("ordinary mail: %+v", rs[0])
	}
	if rs[1].Type != "posta-certificata" || rs[1].Valid || rs[1].Signature.Valid || rs[1].Signature.Status != "invalid" {
		t.Fatalf("altered: %+v %+v", rs[1], rs[1].Signature)
	}
	if rs[2].Type != "errore-consegna" || rs[2].Valid || rs[2].Daticert.ErroreEsteso == "" {
		t.Fatalf("sample: %+v", rs[2])
	}
	if rs[3].Type != "errore" || !strings.Contains(rs[3].Error, "unreadable") {
		t.Fatalf("missing file: %+v", rs[3])
	}
}

func TestPECInspectText(t *testing.T) {
	_, trust, files := pecFixtures(t)
	code, out, _ := runCLI(t, "pec", "inspect", "--trust", trust, files["busta.eml"], files["ordinaria.eml"])
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"posta-certificata — busta di trasporto", "PEC valida (valid PEC)", "firma (signature):  valid, firmatario (signer) CN=Gestore PEC di prova",
		"mittente:", "sdi01@pec.fatturapa.it", "IT01234567890_11111_RC_001.xml (application/octet-stream", "SdI RC IdentificativoSdI 111",
		"non è una PEC (not a PEC)"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q\n%s", want, out)
		}
	}
	// Without a trust store: intact but unchecked, still exit 0 for a sound PEC.
	code, out, _ = runCLI(t, "pec", "inspect", files["busta.eml"])
	if code != 0 || !strings.Contains(out, "unchecked") {
		t.Fatalf("without --trust: exit %d\n%s", code, out)
	}
}

func TestPECInspectUsage(t *testing.T) {
	for _, args := range [][]string{{"pec", "inspect"}, {"pec", "inspect", "--format", "xml", "x"}, {"pec", "inspect", "--trust", "/nonexistent", "x"}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

type pecSimOut struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *pecSimOut) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *pecSimOut) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestPECSimCommand runs `snodo pec-sim` in-process, sends a PEC through it and reads
// the certificates it wrote, then inspects a receipt with them.
func TestPECSimCommand(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr pecSimOut
	env := &cliEnv{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- dispatch(ctx, env, []string{"pec-sim", "--security", "plain", "--smtp", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--out", out,
			"--mailbox", "protocollo@pec.comune.example.it=pw", "--mailbox", "sdi01@pec.fatturapa.it=pw2",
			"--fault", "sdi01@pec.fatturapa.it=errore-consegna"})
	}()
	addr := regexp.MustCompile(`SMTP (\S+) \(plain\)\nIMAP (\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	var m []string
	for m == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pec-sim did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
		m = addr.FindStringSubmatch(stdout.String())
		time.Sleep(10 * time.Millisecond)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: m[1], Security: mailbox.Plain,
		Username: "protocollo@pec.comune.example.it", Password: "pw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _ := compose.Build(compose.Mail{From: "protocollo@pec.comune.example.it", To: []string{"sdi01@pec.fatturapa.it"}, Subject: "x", Text: "x"})
	if _, err := sub.Submit(ctx, raw); err != nil {
		t.Fatal(err)
	}
	var got []*mailbox.Delivery
	var mu sync.Mutex
	c, err := mailbox.NewConsumer(mailbox.IMAPConfig{Endpoint: mailbox.Endpoint{Addr: m[2], Security: mailbox.Plain,
		Username: "protocollo@pec.comune.example.it", Password: "pw"}, PollInterval: 50 * time.Millisecond},
		func(_ context.Context, d *mailbox.Delivery) error {
			mu.Lock()
			got = append(got, d)
			mu.Unlock()
			return nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	cdone := make(chan struct{})
	go func() { c.Run(cctx); close(cdone) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d receipts", n)
		}
	}
	ccancel()
	<-cdone
	// Inspect the receipts with the trust folder the simulator wrote.
	var files []string
	for i, d := range got {
		f := filepath.Join(t.TempDir(), "r"+string(rune('0'+i))+".eml")
		os.WriteFile(f, d.Raw, 0o644)
		files = append(files, f)
	}
	code, text, _ := runCLI(t, append([]string{"pec", "inspect", "--trust", filepath.Join(out, "trust")}, files...)...)
	if code != 0 || !strings.Contains(text, "accettazione — ricevuta di accettazione") || !strings.Contains(text, "errore-consegna — avviso di mancata consegna") {
		t.Fatalf("exit %d\n%s", code, text)
	}
	if _, err := os.Stat(filepath.Join(out, "tls-ca.pem")); err == nil {
		t.Fatal("plain mode wrote a TLS CA")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("pec-sim exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "1 inviati, 1 accettati") {
		t.Fatalf("summary: %s", stdout.String())
	}
}

func TestPECSimUsage(t *testing.T) {
	for _, args := range [][]string{
		{"pec-sim"},
		{"pec-sim", "--mailbox", "senzapassword"},
		{"pec-sim", "--mailbox", "a@b.it=p", "--fault", "a@b.it=boh"},
		{"pec-sim", "--mailbox", "a@b.it=p", "--fault", "a@b.it=ritardo:xyz"},
		{"pec-sim", "--mailbox", "a@b.it=p", "--security", "plain", "--smtp", "0.0.0.0:0"},
		{"pec-sim", "--mailbox", "a@b.it=p", "--cert", "x.pem"},
		{"pec-sim", "--mailbox", "a@b.it=p", "extra"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
