package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, args)
	return code, out.String(), errb.String()
}

// cliSetup writes a configuration with one forward route and returns its path.
func cliSetup(t *testing.T, route string) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(dir, "routes", "comune-a.yaml"), []byte(route), 0o644)
	cfg := filepath.Join(dir, "snodo.yaml")
	os.WriteFile(cfg, []byte("listen: {http: \"127.0.0.1:0\"}\ndata_dir: data\nroutes_dir: routes\nlog: {level: warn}\n"+
		"engine: {poll: 10ms, retry: {max_attempts: 2, initial: 10ms}}\n"), 0o644)
	return cfg
}

const cliRoute = `ente: {name: Comune A, codice_fiscale: "00000000000", offices: [UFA000]}
forward:
  - name: demo
    from: {channel: fs, url: "file:in", settings: {poll: 10ms, min_age: -1ns}}
    to: {channel: fs, url: "file:out"}
`

func TestServeRefusesAnInvalidConfiguration(t *testing.T) {
	cfg := cliSetup(t, "ente:\n  name: X\n  codice_fiscale: \"00000000000\"\nforward:\n  - name: demo\n    from: {channel: ftpp, url: \"ftp://h/x\"}\n    to: {channel: fs, url: \"file:out\"}\n")
	code, _, stderr := run(t, "serve", "--config", cfg)
	if code != 2 {
		t.Fatalf("serve exit %d, want 2", code)
	}
	want := filepath.Join(filepath.Dir(cfg), "routes", "comune-a.yaml") + ":6:"
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, `tipo "ftpp" sconosciuto`) {
		t.Fatalf("stderr lacks %s and the reason:\n%s", want, stderr)
	}
	code, _, stderr = run(t, "routes", "check", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("routes check exit %d:\n%s", code, stderr)
	}
}

func TestOperatorCommandsOnARunningJournal(t *testing.T) {
	cfg := cliSetup(t, cliRoute)
	dir := filepath.Dir(cfg)
	if code, out, errs := run(t, "routes", "check", "--config", cfg); code != 0 || !strings.Contains(out, "ok: 1 enti, 1 uffici") {
		t.Fatalf("routes check = %d\n%s%s", code, out, errs)
	}
	code, out, _ := run(t, "routes", "explain", "--config", cfg, "comune-a")
	if code != 0 || !strings.Contains(out, "forward.demo.from") || !strings.Contains(out, "forward.demo.to") || !strings.Contains(out, "tentativi: fino a 2") {
		t.Fatalf("routes explain = %d\n%s", code, out)
	}
	if code, _, errs := run(t, "routes", "explain", "--config", cfg, "comune-z"); code != 1 || !strings.Contains(errs, "enti configurati: comune-a") {
		t.Fatalf("explain of an unknown ente = %d: %s", code, errs)
	}

	// Run the hub in-process: one file is delivered, one fails (its target name is a
	// folder) and is dead-lettered.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out, errb bytes.Buffer
		done <- dispatch(ctx, &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, []string{"serve", "--config", cfg})
	}()
	in, outDir := filepath.Join(dir, "data", "in"), filepath.Join(dir, "data", "out")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(filepath.Join(outDir, "blocked.xml"), 0o755)
	os.WriteFile(filepath.Join(in, "ok.xml"), []byte("<ok/>"), 0o644)
	os.WriteFile(filepath.Join(in, "blocked.xml"), []byte("<blocked/>"), 0o644)
	deadline := time.Now().Add(15 * time.Second)
	var dl string
	for time.Now().Before(deadline) {
		_, dl, _ = run(t, "dead-letters", "--config", cfg)
		if _, err := os.Stat(filepath.Join(outDir, "ok.xml")); err == nil && strings.Contains(dl, "forward.demo.to") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(dl, "forward.demo.to") {
		t.Fatalf("no dead letter listed:\n%s", dl)
	}
	_, list, _ := run(t, "messages", "list", "--config", cfg)
	if !strings.Contains(list, "ok.xml") || !strings.Contains(list, "blocked.xml") {
		t.Fatalf("messages list:\n%s", list)
	}
	var blockedID string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "blocked.xml") {
			blockedID = strings.Fields(line)[0]
		}
	}
	code, show, _ := run(t, "messages", "show", "--config", cfg, blockedID)
	if code != 0 || !strings.Contains(show, "dead_lettered") || !strings.Contains(show, "attempt_failed") || !strings.Contains(show, "cronologia") {
		t.Fatalf("messages show = %d\n%s", code, show)
	}
	// The operator fixes the target and replays: delivered once.
	os.Remove(filepath.Join(outDir, "blocked.xml"))
	if code, out, errs := run(t, "replay", "--config", cfg, blockedID); code != 0 || !strings.Contains(out, "1 consegne rimesse in coda") {
		t.Fatalf("replay = %d %s %s", code, out, errs)
	}
	for time.Now().Before(deadline.Add(10 * time.Second)) {
		if b, err := os.ReadFile(filepath.Join(outDir, "blocked.xml")); err == nil && string(b) == "<blocked/>" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(outDir, "blocked.xml")); string(b) != "<blocked/>" {
		t.Fatal("the replayed delivery did not arrive")
	}
	if code, _, errs := run(t, "replay", "--config", cfg, blockedID); code != 1 || !strings.Contains(errs, "nessuna consegna in dead letter") {
		t.Fatalf("a second replay = %d: %s", code, errs)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d after cancellation", code)
	}
}
