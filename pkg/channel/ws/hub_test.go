package ws_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/channel/ws"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// startHub runs a real hub (SQLite store, engine with fast retries) relaying files from
// a folder to a ws endpoint.
func startHub(t *testing.T, wsURL string) (*hub.Hub, string) {
	t.Helper()
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes")
	os.MkdirAll(routes, 0o755)
	rt := fmt.Sprintf(`
ente: {name: Comune A, codice_fiscale: "00000000000", offices: [UFA000]}
forward:
  - name: protocollo
    from: {channel: fs, url: "file:a/inbox", settings: {poll: 20ms, min_age: -1ns}}
    to: {channel: ws, url: %q, settings: {style: rest, timeout: 2s}}
`, wsURL)
	os.WriteFile(filepath.Join(routes, "comune-a.yaml"), []byte(rt), 0o644)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte("listen: {http: 127.0.0.1:0}\ndata_dir: data\nroutes_dir: routes\n"+
		"engine: {poll: 20ms, retry: {initial: 30ms, max: 60ms, max_attempts: 200}}\n"), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind(), ws.Kind())}
	cfg, err := l.LoadConfig(filepath.Join(dir, "snodo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("hub did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not start within 10s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub Run: %v", err)
		}
	})
	return h, filepath.Join(cfg.DataDir, "a", "inbox")
}

func dropFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitEvent waits until the only message of the store has n events of type typ.
func waitEvent(t *testing.T, h *hub.Hub, typ message.EventType, n int) message.ID {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := h.Store.List(context.Background(), store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 1 {
			evs, err := h.Store.Events(context.Background(), ms[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			k := 0
			for _, e := range evs {
				if e.Type == typ {
					k++
				}
			}
			if k >= n {
				return ms[0].ID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %d %s events within 20s", n, typ)
	return ""
}

// enteStore is an ente's system that dedups by idempotency key, as the contract asks.
type enteStore struct {
	mu       sync.Mutex
	requests []string // idempotency keys, in arrival order
	stored   map[string][]byte
}

// TestEndpointDownThenDelivered: the ente's system is down, the engine retries; when it
// comes back the file is delivered once, with the message id as idempotency key.
func TestEndpointDownThenDelivered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	h, inbox := startHub(t, "http://"+addr+"/in")
	data := fixture(t, "IT01234567890_FPA01.xml")
	dropFile(t, inbox, "IT01234567890_FPA01.xml", data)
	id := waitEvent(t, h, message.EventAttemptFailed, 3)

	es := &enteStore{stored: map[string][]byte{}}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("rebinding %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		es.mu.Lock()
		es.requests = append(es.requests, key)
		es.stored[key] = body
		es.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"numero_protocollo":"PG-1"}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	waitEvent(t, h, message.EventDelivered, 1)
	m, err := h.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	if len(es.requests) != 1 || es.requests[0] != string(id) {
		t.Fatalf("the ente saw %v, want one request keyed %s", es.requests, id)
	}
	if string(es.stored[string(id)]) != string(data) {
		t.Fatal("the ente stored other bytes")
	}
	if m.Header(message.HeaderNumeroProtocollo) != "PG-1" {
		t.Fatalf("NumeroProtocollo not kept on the message: %v", m.Headers)
	}
}

// TestLostAnswerRetriedWithSameKey: the ente takes the file but the connection drops
// before its answer; the retry carries the same idempotency key, so the ente keeps one.
func TestLostAnswerRetriedWithSameKey(t *testing.T) {
	es := &enteStore{stored: map[string][]byte{}}
	srv := newEnteServer(t, serverOpts{plain: true}, func(w http.ResponseWriter, r *http.Request, body []byte) {
		key := r.Header.Get("Idempotency-Key")
		es.mu.Lock()
		es.requests = append(es.requests, key)
		_, seen := es.stored[key]
		es.stored[key] = body
		es.mu.Unlock()
		if !seen {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // stored, but the answer is lost
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h, inbox := startHub(t, srv.srv.URL+"/in")
	dropFile(t, inbox, "IT01234567890_FPA01.xml", fixture(t, "IT01234567890_FPA01.xml"))
	id := waitEvent(t, h, message.EventDelivered, 1)
	es.mu.Lock()
	defer es.mu.Unlock()
	if len(es.requests) != 2 || es.requests[0] != string(id) || es.requests[1] != string(id) {
		t.Fatalf("requests %v, want two keyed %s", es.requests, id)
	}
	if len(es.stored) != 1 {
		t.Fatalf("the ente holds %d files, want 1", len(es.stored))
	}
}
