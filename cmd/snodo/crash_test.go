package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// TestMain lets the test binary act as the snodo command: the crash tests start it as a
// child process and kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("SNODO_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type hubProc struct {
	cmd  *exec.Cmd
	done chan error
	log  *bytes.Buffer
}

func startProc(t *testing.T, config string) *hubProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", config)
	cmd.Env = append(os.Environ(), "SNODO_TEST_RUN_MAIN=1")
	var log bytes.Buffer
	cmd.Stderr = &log
	cmd.Stdout = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hubProc{cmd: cmd, done: make(chan error, 1), log: &log}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *hubProc) kill(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("process did not die")
	}
	p.done <- nil // for the cleanup
}

func (p *hubProc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hub exited with %v after SIGTERM:\n%s", err, p.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hub did not stop within 30s of SIGTERM")
	}
	p.done <- nil
}

// crashSetup writes a configuration and route relaying inbox → outbox, and n files of
// about 10 KB into the inbox.
func crashSetup(t *testing.T, n int, storeYAML string) (config, inbox, outbox string, want map[string][]byte) {
	dir := t.TempDir()
	inbox, outbox = filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
	os.MkdirAll(inbox, 0o755)
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	config = filepath.Join(dir, "snodo.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`listen: {http: "127.0.0.1:0"}
data_dir: %s
routes_dir: %s
log: {level: warn}
%s
engine: {workers: 8, poll: 10ms, lease: 3s, grace: 2s}
`, filepath.Join(dir, "data"), filepath.Join(dir, "routes"), storeYAML)), 0o644)
	os.WriteFile(filepath.Join(dir, "routes", "comune-a.yaml"), []byte(fmt.Sprintf(`ente: {name: Comune A, codice_fiscale: "00000000000"}
forward:
  - name: crash
    from: {channel: fs, url: "file://%s", settings: {poll: 10ms, min_age: -1ns, stale_claim: 2s}}
    to: {channel: fs, url: "file://%s"}
`, inbox, outbox)), 0o644)
	want = map[string][]byte{}
	pad := bytes.Repeat([]byte("x"), 10*1024)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("IT01234567890_%05d.xml", i)
		body := append([]byte(fmt.Sprintf("<f n=\"%d\">", i)), pad...)
		body = append(body, "</f>"...)
		want[name] = body
		if err := os.WriteFile(filepath.Join(inbox, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return config, inbox, outbox, want
}

func countFiles(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

func waitCount(t *testing.T, dir string, atLeast int, timeout time.Duration, procs ...*hubProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if countFiles(dir) >= atLeast {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	var logs string
	for _, p := range procs {
		logs += p.log.String()
	}
	t.Fatalf("%s holds %d files after %s, want at least %d\n%s", dir, countFiles(dir), timeout, atLeast, logs)
}

// verify checks that every file reached the outbox once, intact, with no temporary
// leftovers, and that the journal holds each exactly once, delivered.
func verify(t *testing.T, s store.Store, outbox string, want map[string][]byte) {
	t.Helper()
	entries, _ := os.ReadDir(outbox)
	got := 0
	leftovers := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			// A write cut by SIGKILL leaves its hidden temporary file; readers never see
			// it and the sender sweeps it once it is old. Anything else is an error.
			if !strings.HasSuffix(e.Name(), ".tmp") {
				t.Errorf("unexpected hidden file in the outbox: %s", e.Name())
			}
			leftovers++
			continue
		}
		b, err := os.ReadFile(filepath.Join(outbox, e.Name()))
		if err != nil || !bytes.Equal(b, want[e.Name()]) {
			t.Errorf("outbox %s: wrong or unexpected content (%d bytes)", e.Name(), len(b))
		}
		got++
	}
	if got != len(want) {
		t.Fatalf("outbox holds %d files, want %d", got, len(want))
	}
	if leftovers > 0 {
		t.Logf("%d hidden temporary files of killed writes (swept after %s)", leftovers, "10m")
	}
	ctx := context.Background()
	delivered := 0
	var before message.ID
	seen := map[string]bool{}
	for {
		ms, err := s.List(ctx, store.Filter{Limit: 500, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if seen[m.FileName] {
				t.Errorf("file %s stored twice", m.FileName)
			}
			seen[m.FileName] = true
			if m.State == message.StateDelivered {
				delivered++
			}
		}
		before = ms[len(ms)-1].ID
	}
	if len(seen) != len(want) || delivered != len(want) {
		t.Fatalf("journal: %d messages, %d delivered; want %d", len(seen), delivered, len(want))
	}
	st, _ := s.Stats(ctx)
	if st.Pending+st.Running+st.Dead != 0 {
		t.Fatalf("queue not drained: %+v", st)
	}
}

func TestCrashSQLiteExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: starts and kills hub processes")
	}
	const n = 1000
	config, inbox, outbox, want := crashSetup(t, n, "store: {driver: sqlite}")
	// Kill the hub three times while messages are in flight.
	for i, at := range []int{50, 300, 600} {
		p := startProc(t, config)
		waitCount(t, outbox, at, 60*time.Second, p)
		p.kill(t)
		t.Logf("kill %d: %d delivered, %d still in the inbox", i+1, countFiles(outbox), countFiles(inbox))
	}
	p := startProc(t, config)
	waitCount(t, outbox, n, 120*time.Second, p)
	// Let the last acknowledgements and completions land, then stop cleanly.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (countFiles(inbox) > 0 || countFiles(filepath.Join(inbox, ".processing")) > 0) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	p.stop(t)
	s := storetest.OpenSQLiteAt(t, filepath.Join(filepath.Dir(config), "data", "store"))
	verify(t, s, outbox, want)
}

func TestCrashTwoHubsSharingPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: starts and kills hub processes")
	}
	const n = 1000
	dsn := storetest.NewPostgresSchema(t)
	config, inbox, outbox, want := crashSetup(t, n, fmt.Sprintf("store: {driver: postgres, dsn: %q}", dsn))
	a := startProc(t, config)
	b := startProc(t, config)
	waitCount(t, outbox, 200, 90*time.Second, a, b)
	a.kill(t)
	t.Logf("hub A killed: %d delivered", countFiles(outbox))
	waitCount(t, outbox, n, 120*time.Second, b)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (countFiles(inbox) > 0 || countFiles(filepath.Join(inbox, ".processing")) > 0) {
		time.Sleep(20 * time.Millisecond)
	}
	// Jobs leased by the dead hub are taken over once their 3s lease expires.
	s, err := store.OpenPostgres(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for time.Now().Before(deadline) {
		st, _ := s.Stats(context.Background())
		if st.Pending+st.Running == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.stop(t)
	verify(t, s, outbox, want)
}
