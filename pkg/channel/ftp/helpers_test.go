package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	iofs "io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/message"
	"snodo/pkg/testpki"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client certificate, written
// to files as an operator would configure them.
type pki struct {
	ca                    *testpki.CA
	caFile                string
	server                tls.Certificate
	clientCert, clientKey string
}

func newPKI(t testing.TB) pki {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.MustCA("snodo ftp test CA")
	srv, err := ca.Server("127.0.0.1", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("hub.comune-a", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, err := cli.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca: ca, caFile: caFile, server: srv.TLS(), clientCert: cf, clientKey: kf}
}

func (p pki) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
}

// endpoint builds a checked endpoint for a folder of srv.
func endpoint(t testing.TB, srv *ftptest.Server, dir string, set *ftp.Settings, caFile string) *channel.Endpoint {
	t.Helper()
	ep := &channel.Endpoint{Name: "comune-a/" + strings.ReplaceAll(dir, "/", "-"), Kind: "ftp", URL: srv.URL(dir),
		Settings: set, Username: srv.User, Password: srv.Password}
	if srv.TLS() {
		ep.TLS.CAFile = caFile
	}
	if err := set.Check(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func newSender(t testing.TB, ep *channel.Endpoint, deps channel.Deps) channel.Sender {
	t.Helper()
	s, err := ftp.Kind().NewSender(ep, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newReceiver(t testing.TB, ep *channel.Endpoint, deps channel.Deps) channel.Receiver {
	t.Helper()
	r, err := ftp.Kind().NewReceiver(ep, deps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// regularFiles lists the regular files of a local folder (hidden ones included).
func regularFiles(t testing.TB, dir string) map[string][]byte {
	got := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if errors.Is(err, iofs.ErrNotExist) {
				continue // renamed meanwhile
			}
			if err != nil {
				t.Fatal(err)
			}
			got[e.Name()] = data
		}
	}
	return got
}

func names(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// putLocal writes a file into the server's folder atomically, as a peer uploading
// under a temporary name would.
func putLocal(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".put-"+name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func delivery(id, name string, data []byte, companions ...message.File) *channel.Delivery {
	files := append([]message.File{{Name: "orig-" + name, Role: message.RoleMain, Data: data}}, companions...)
	return &channel.Delivery{MessageID: message.ID(id), Ente: "comune-a", Phase: "passive.protocol", FileName: name, Files: files, Attempt: 1}
}

func mt(name string) message.File {
	return message.File{Name: strings.TrimSuffix(name, ".xml") + "_MT_001.xml", Role: message.RoleMetadata, Data: []byte("<MetadatiInvioFile/>")}
}

// logBuffer is a slog handler target safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runFor runs a receiver in the background; stop cancels it and waits.
func runFor(t *testing.T, r channel.Receiver, sink channel.Sink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, sink) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v on cancellation", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("receiver did not stop within 10s")
		}
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("waited %s for %s", timeout, what)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
