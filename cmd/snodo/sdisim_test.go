package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/sdi/sdicoop"
)

// sdiSimOutput is a bytes.Buffer safe for the command's goroutine and the test.
type sdiSimOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *sdiSimOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *sdiSimOutput) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestSdISimCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs sdiSimOutput
	env := &cliEnv{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, env, []string{"sdi-sim", "--plain", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
			"--notify", "1ms", "--rule", "ZZZZZZ=scarto", "--state", t.TempDir()})
	}()
	re := regexp.MustCompile(`SdIRiceviFile:\s+(\S+)\n(?s:.*)Controllo:\s+(\S+)\n`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no addresses printed; stdout %q stderr %q", out.String(), errs.String())
		}
		m = re.FindStringSubmatch(out.String())
	}
	if !strings.Contains(out.String(), "ZZZZZZ   → scarto") || !strings.Contains(out.String(), "AAAAAA   → consegna-ec01") {
		t.Fatalf("rules not printed: %s", out.String())
	}
	inv, err := os.ReadFile("../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sdicoop.NewClient(sdicoop.ClientConfig{RiceviFileURL: m[1], HTTP: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.RiceviFile(ctx, "IT01234567890_FPA01.xml", inv)
	if err != nil || res.IdentificativoSdI != "5000000001" {
		t.Fatalf("RiceviFile: %+v %v", res, err)
	}
	resp, err := http.Get(m[2] + "eventi")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"azione": "RiceviFile"`) || !strings.Contains(string(body), "5000000001") {
		t.Fatalf("events: %s", body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sdi-sim did not stop")
	}
}

func TestSdISimUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sdi-sim"}, "--plain"},
		{[]string{"sdi-sim", "--plain", "--rule", "AAAAAA"}, "CODICE=SCENARIO"},
		{[]string{"sdi-sim", "--plain", "--rule", "AAAAAA=boh"}, "scenario \"boh\" sconosciuto"},
		{[]string{"sdi-sim", "--plain", "--default", "x"}, "--default"},
		{[]string{"sdi-sim", "--cert", "/nonexistent.pem", "--key", "/nonexistent.key"}, "/nonexistent.pem"},
	} {
		var out, errs sdiSimOutput
		env := &cliEnv{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
		if code := dispatch(context.Background(), env, tc.args); code != 2 || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs.String(), tc.want)
		}
	}
}
