// Package hubtest runs a hub in-process for tests: Start builds it from hub.Options,
// runs it, waits until it is ready (failing the test if it does not start) and stops it
// at cleanup, reporting an error from Run.
package hubtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"snodo/pkg/hub"
)

// Running is a hub started by Start.
type Running struct {
	Hub    *hub.Hub
	t      testing.TB
	once   sync.Once
	cancel context.CancelFunc
	done   chan error
}

// Start runs a hub and waits up to 20 seconds for it to be ready.
func Start(t testing.TB, o hub.Options) *Running {
	t.Helper()
	h, err := hub.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Hub: h, t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-r.done:
		cancel()
		t.Fatalf("hub did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("hub did not start within 20s")
	}
	t.Cleanup(r.Stop)
	return r
}

// Stop shuts the hub down (two-phase, as on SIGTERM) and waits for it; later calls do
// nothing. An error from Run fails the test.
func (r *Running) Stop() {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			r.t.Errorf("hub Run: %v", err)
		}
	})
}
