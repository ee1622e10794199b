package active_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/tlsconf"
)

// TestMain lets the test binary run a hub as a child process: the crash test kills it
// with SIGKILL at the worst moment.
func TestMain(m *testing.M) {
	if os.Getenv("SNODO_ACTIVE_CHILD") == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// freezeLine is what a child prints when the SdI's answer to RiceviFile is in its hands
// and it freezes before recording it.
const freezeLine = "RISPOSTA-SDI-RICEVUTA"

// runChild runs a hub on $SNODO_ACTIVE_CONFIG until SIGTERM. With
// SNODO_ACTIVE_FREEZE=1 its SdI client reads the SdI's answer to RiceviFile, prints
// freezeLine and blocks: the process holds the answer and never commits it.
func runChild() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fail := func(err error) int { log.Error("child", "err", err); return 2 }
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind()), CheckRules: flowkit.CheckRules}
	cfg, err := l.LoadConfig(os.Getenv("SNODO_ACTIVE_CONFIG"))
	if err != nil {
		return fail(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		return fail(err)
	}
	wait, _ := time.ParseDuration(os.Getenv("SNODO_ACTIVE_WAIT"))
	opts := active.Options{UnknownOutcomeWait: wait}
	if os.Getenv("SNODO_ACTIVE_FREEZE") == "1" {
		tc, err := tlsconf.Client{CertFile: cfg.SdI.TLS.Cert, KeyFile: cfg.SdI.TLS.Key, RootCA: cfg.SdI.TLS.CA}.Config()
		if err != nil {
			return fail(err)
		}
		hc := tlsconf.HTTPClient(tc, 30*time.Second)
		hc.Transport = freezer{base: hc.Transport}
		opts.SdIClient, err = sdicoop.NewClient(sdicoop.ClientConfig{HTTP: hc, RiceviFileURL: cfg.SdI.RiceviFileURL, RiceviNotificaURL: cfg.SdI.RiceviNotificaURL})
		if err != nil {
			return fail(err)
		}
	}
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels, Modules: []hub.Module{active.New(opts)}, Logger: log})
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := h.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

type freezer struct{ base http.RoundTripper }

func (f freezer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.base.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/SdIRiceviFile") {
		io.ReadAll(resp.Body) // the SdI's answer, IdentificativoSdI included, is here
		fmt.Fprintln(os.Stdout, freezeLine)
		select {} // and is never committed: the parent kills the process now
	}
	return resp, err
}

// child is a hub process.
type child struct {
	cmd    *exec.Cmd
	done   chan struct{}
	frozen chan struct{}
	log    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startChild(t *testing.T, e *env, freeze bool, wait time.Duration) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SNODO_ACTIVE_CHILD=1", "SNODO_ACTIVE_CONFIG="+e.cfgPath, "SNODO_ACTIVE_WAIT="+wait.String())
	if freeze {
		cmd.Env = append(cmd.Env, "SNODO_ACTIVE_FREEZE=1")
	}
	c := &child{cmd: cmd, done: make(chan struct{}), frozen: make(chan struct{}), log: &syncBuffer{}}
	cmd.Stderr = c.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == freezeLine {
				close(c.frozen)
			}
		}
	}()
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("child did not die")
	}
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not stop:\n%s", c.log)
	}
}

// TestCrashBetweenAnswerAndCommit kills the hub (SIGKILL) after the SdI answered
// RiceviFile and before the hub committed the answer, restarts it, and checks the file
// reached the SdI once: the restarted hub finds the send in flight and waits for the
// SdI's notifications instead of sending again. When the notifications come, it learns
// the IdentificativoSdI from them; when none comes within the wait, it sends the same
// name again and recognises the SdI's 00002.
func TestCrashBetweenAnswerAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	cases := []struct {
		name   string
		codice string
		timing sim.Timing
		wait   time.Duration
		final  message.State
	}{
		// The RC comes after the restart: the SdI retries until the hub answers.
		{"notifiche dopo il riavvio", "AAAAAA", sim.Timing{Notify: 2500 * time.Millisecond, EC: 20 * time.Millisecond, Retry: 300 * time.Millisecond, Attempts: 40},
			time.Hour, active.Accettata},
		// The SdI says nothing about the first send.
		{"nessuna notifica", "FFFFFF", fastTiming, time.Second, active.Inviata},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, timing: c.timing, external: true})
			e.submit("a", "crash.xml", invoice(pivaA, c.codice, "K1"))
			first := startChild(t, e, true, c.wait)
			select {
			case <-first.frozen:
			case <-first.done:
				t.Fatalf("child exited:\n%s", first.log)
			case <-time.After(30 * time.Second):
				t.Fatalf("the hub never got the SdI's answer:\n%s", first.log)
			}
			first.kill(t)
			rf := e.simEvent("RiceviFile", func(ev sim.Event) bool { return ev.Azione == "RiceviFile" && !ev.IdentificativoSdI.IsZero() })
			nome := rf.NomeFile

			second := startChild(t, e, false, c.wait)
			var want func(string) bool
			if c.final == active.Accettata {
				want = func(f string) bool { return strings.HasSuffix(f, "_NE_001.xml") }
			} else {
				e.simEvent("NS 00002", func(ev sim.Event) bool { return ev.Azione == "Notifica" && ev.Tipo == sdi.NS && ev.NomeFile == nome })
				want = func(f string) bool { return strings.HasSuffix(f, "_NS_001.xml") }
			}
			e.waitOut("a", want)
			second.stop(t)

			s, err := hub.OpenStore(context.Background(), mustConfig(t, e), []hub.Module{active.New(active.Options{})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			m := onlyInvoice(t, s)
			tl := timeline(s, m.ID)
			if m.State != c.final {
				t.Errorf("state %s, want %s\n%s\nfirst hub:\n%s\nsecond hub:\n%s", m.State, c.final, tl, first.log, second.log)
			}
			if n := e.received(nome); c.final == active.Accettata && n != 1 {
				t.Errorf("the SdI took %s %d times", nome, n)
			}
			if !strings.Contains(tl, "invio in corso") {
				t.Errorf("no in-flight record before the call:\n%s", tl)
			}
			switch c.final {
			case active.Accettata:
				if m.Header(message.HeaderIdentificativoSdI) != string(rf.IdentificativoSdI) || !strings.Contains(tl, "appreso dalla notifica") {
					t.Errorf("IdentificativoSdI %q (the SdI gave %s):\n%s", m.Header(message.HeaderIdentificativoSdI), rf.IdentificativoSdI, tl)
				}
				// Nothing but the first call reached the SdI.
				if calls := len(e.simEvents(func(ev sim.Event) bool { return ev.Azione == "RiceviFile" })); calls != 1 {
					t.Errorf("RiceviFile called %d times", calls)
				}
			default:
				if m.Header(active.HeaderEsitoIncerto) != "si" || !strings.Contains(tl, "scarto 00002") {
					t.Errorf("repeat not recognised:\n%s", tl)
				}
				// No notification but the 00002 of the repeat: the recipient got nothing twice.
				if other := e.simEvents(func(ev sim.Event) bool { return ev.Azione == "Notifica" && ev.Tipo != sdi.NS }); len(other) != 0 {
					t.Errorf("notifications %v", other)
				}
			}
		})
	}
}

func mustConfig(t *testing.T, e *env) *route.Config {
	t.Helper()
	cfg, _, _ := e.load()
	return cfg
}

func onlyInvoice(t *testing.T, s store.Store) *message.Message {
	t.Helper()
	ms, err := s.List(context.Background(), store.Filter{Flow: string(message.FlowActive), Kind: string(message.KindInvoice)})
	if err != nil || len(ms) != 1 {
		t.Fatalf("invoices: %d, %v", len(ms), err)
	}
	return ms[0]
}

func timeline(s store.Store, id message.ID) string {
	evs, _ := s.Events(context.Background(), id)
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s %s\n", ev.Type, ev.Target, ev.Detail)
	}
	jobs, _ := s.Jobs(context.Background(), id)
	for _, j := range jobs {
		fmt.Fprintf(&b, "  job %s %s %s attempts=%d %s\n", j.Handler, j.Target, j.State, j.Attempts, j.LastError)
	}
	return b.String()
}
