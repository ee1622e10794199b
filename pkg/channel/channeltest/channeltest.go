// Package channeltest is the conformance suite every channel kind must pass: atomic and
// idempotent sends, receive round trips, no acknowledgement before commit, the same
// DedupKey when an item is handed over again after a crash, and clean shutdown.
package channeltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/message"
)

// Harness connects the suite to one channel kind backed by a real server or folder.
type Harness struct {
	// NewSender returns a sender whose target the suite inspects with Target.
	NewSender func(t *testing.T) channel.Sender
	// Target lists the files a reader sees at the sender's target, by final name.
	Target func(t *testing.T) map[string][]byte
	// NewReceiver returns a receiver reading the source that Put writes to.
	NewReceiver func(t *testing.T) channel.Receiver
	// Put drops a file into the receiver's source as a peer would.
	Put func(t *testing.T, name string, data []byte)
	// Pending lists the names still waiting in the receiver's source (not yet
	// acknowledged), including claimed-but-unacknowledged ones.
	Pending func(t *testing.T) []string
}

// Recorder is a Sink that stores accepted items in memory, deduplicating by DedupKey as
// the store does.
type Recorder struct {
	mu    sync.Mutex
	byKey map[string]channel.Inbound
	order []string
	// Fail, when set, is consulted before accepting; a non-nil error refuses the item.
	Fail func(in channel.Inbound) error
	// AfterCommit runs after an item is recorded and before Accept returns.
	AfterCommit func(in channel.Inbound)
	dups        int
	changed     chan struct{}
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{byKey: map[string]channel.Inbound{}, changed: make(chan struct{}, 1)}
}

// Accept implements channel.Sink.
func (r *Recorder) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	if r.Fail != nil {
		if err := r.Fail(in); err != nil {
			return channel.Accepted{}, err
		}
	}
	if in.DedupKey == "" {
		return channel.Accepted{}, errors.New("channeltest: inbound item without DedupKey")
	}
	r.mu.Lock()
	_, dup := r.byKey[in.DedupKey]
	if dup {
		r.dups++
	} else {
		r.byKey[in.DedupKey] = in
		r.order = append(r.order, in.DedupKey)
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	if r.AfterCommit != nil {
		r.AfterCommit(in)
	}
	return channel.Accepted{MessageID: message.ID(in.DedupKey), Duplicate: dup}, nil
}

// Items returns the accepted items in order.
func (r *Recorder) Items() []channel.Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]channel.Inbound, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.byKey[k])
	}
	return out
}

// Duplicates counts items handed over again.
func (r *Recorder) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups
}

// WaitFor waits until n distinct items were accepted or the timeout passes.
func (r *Recorder) WaitFor(t *testing.T, n int, timeout time.Duration) []channel.Inbound {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if items := r.Items(); len(items) >= n {
			return items
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("waited %s for %d items, got %d", timeout, n, len(r.Items()))
		}
	}
}

// runReceiver runs a receiver in the background and returns a stop function that waits
// for it to return.
func runReceiver(t *testing.T, rcv channel.Receiver, sink channel.Sink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rcv.Run(ctx, sink) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("receiver returned %v on cancellation, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("receiver did not stop within 15s of cancellation")
		}
	}
}

func waitPendingEmpty(t *testing.T, h Harness, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if len(h.Pending(t)) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("source still holds %v after %s", h.Pending(t), timeout)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("SendAtomicAndIdempotent", func(t *testing.T) {
		s := h.NewSender(t)
		defer s.Close()
		d := &channel.Delivery{MessageID: "m1", Ente: "comune-a", Phase: "passive.protocol", FileName: "IT01234567890_00001.xml",
			Files: []message.File{{Name: "x.xml", Role: message.RoleMain, Data: bytes.Repeat([]byte("<a/>"), 5000)},
				{Name: "IT01234567890_00001_MT_001.xml", Role: message.RoleMetadata, Data: []byte("<mt/>")}}, Attempt: 1}
		for i := 0; i < 2; i++ {
			if _, err := s.Send(ctx, d); err != nil {
				t.Fatalf("send %d: %v", i+1, err)
			}
		}
		got := h.Target(t)
		if len(got) != 2 {
			t.Fatalf("target holds %d files after sending one delivery twice, want 2 (main + metadata): %v", len(got), keys(got))
		}
		if !bytes.Equal(got["IT01234567890_00001.xml"], d.Files[0].Data) || string(got["IT01234567890_00001_MT_001.xml"]) != "<mt/>" {
			t.Fatalf("target content differs: %v", keys(got))
		}
	})

	t.Run("SendRefusesHostileNames", func(t *testing.T) {
		s := h.NewSender(t)
		defer s.Close()
		for _, name := range []string{"../evil.xml", "a/b.xml", "x\x00.xml", "..", ""} {
			d := &channel.Delivery{MessageID: "m2", FileName: name, Files: []message.File{{Name: "f", Data: []byte("x")}}}
			if name == "" {
				d.Files[0].Name = ""
			}
			_, err := s.Send(ctx, d)
			if err == nil || !channel.IsPermanent(err) {
				t.Fatalf("Send(%q) = %v, want a permanent error", name, err)
			}
		}
	})

	t.Run("ReceiveRoundTrip", func(t *testing.T) {
		rec := NewRecorder()
		files := map[string][]byte{}
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("IT01234567890_0000%d.xml", i)
			files[name] = []byte(fmt.Sprintf("<f n='%d'/>", i))
			h.Put(t, name, files[name])
		}
		stop := runReceiver(t, h.NewReceiver(t), rec)
		items := rec.WaitFor(t, 3, 20*time.Second)
		waitPendingEmpty(t, h, 10*time.Second)
		stop()
		for _, in := range items {
			if !bytes.Equal(files[in.FileName], in.Data) {
				t.Fatalf("item %s: content %q", in.FileName, in.Data)
			}
			if in.Source == "" {
				t.Fatalf("item %s has no Source", in.FileName)
			}
		}
	})

	t.Run("NoAckBeforeCommit", func(t *testing.T) {
		rec := NewRecorder()
		var mu sync.Mutex
		refused := 0
		rec.Fail = func(in channel.Inbound) error {
			mu.Lock()
			defer mu.Unlock()
			if refused < 2 {
				refused++
				return errors.New("store unavailable")
			}
			return nil
		}
		h.Put(t, "IT01234567890_00010.xml", []byte("<retry/>"))
		stop := runReceiver(t, h.NewReceiver(t), rec)
		items := rec.WaitFor(t, 1, 30*time.Second)
		stop()
		if string(items[0].Data) != "<retry/>" {
			t.Fatalf("content %q", items[0].Data)
		}
		if len(h.Pending(t)) != 0 {
			t.Fatalf("source still holds %v after the commit", h.Pending(t))
		}
	})

	t.Run("CrashBetweenCommitAndAck", func(t *testing.T) {
		// The first receiver commits, then dies before acknowledging: its context is
		// cancelled inside Accept and Accept reports failure, as a killed process would
		// never acknowledge. A new receiver must hand the same item over with the same
		// DedupKey, and the store dedups it.
		rec := NewRecorder()
		ctx1, cancel1 := context.WithCancel(context.Background())
		var once sync.Once
		crashing := channel.SinkFunc(func(c context.Context, in channel.Inbound) (channel.Accepted, error) {
			a, err := rec.Accept(c, in)
			if err != nil {
				return a, err
			}
			once.Do(cancel1)
			return channel.Accepted{}, errors.New("process killed after commit")
		})
		h.Put(t, "IT01234567890_00020.xml", []byte("<crash/>"))
		done := make(chan struct{})
		go func() { h.NewReceiver(t).Run(ctx1, crashing); close(done) }()
		rec.WaitFor(t, 1, 20*time.Second)
		<-done
		if len(h.Pending(t)) == 0 {
			t.Fatal("the item was acknowledged although Accept failed")
		}
		stop := runReceiver(t, h.NewReceiver(t), rec)
		waitPendingEmpty(t, h, 20*time.Second)
		stop()
		if n := len(rec.Items()); n != 1 {
			t.Fatalf("%d distinct items after a crash and restart, want 1", n)
		}
		if rec.Duplicates() < 1 {
			t.Fatal("the item was not handed over again after the crash (or with another DedupKey)")
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
