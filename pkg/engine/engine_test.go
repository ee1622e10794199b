package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

func ingest(t *testing.T, s store.Store, n int, target string) []message.ID {
	t.Helper()
	var ids []message.ID
	for i := 0; i < n; i++ {
		id, _, err := s.Ingest(context.Background(), store.NewMessage{
			Message: &message.Message{Flow: message.FlowForward, Kind: message.KindFile, FileName: fmt.Sprintf("%d.xml", i),
				Files: []message.File{{Name: fmt.Sprintf("%d.xml", i), Data: []byte("<a/>")}}},
			Jobs: []store.JobSpec{{Handler: "deliver", Target: target}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func start(t *testing.T, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	e := New(cfg)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitJobs(t *testing.T, s store.Store, id message.ID, want store.JobState) store.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		js, _ := s.Jobs(context.Background(), id)
		if len(js) == 1 && js[0].State == want {
			return js[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	js, _ := s.Jobs(context.Background(), id)
	t.Fatalf("job of %s did not reach %s: %+v", id, want, js)
	return store.Job{}
}

func TestDeliversEachJobOnce(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	ids := ingest(t, s, 200, "out")
	var mu sync.Mutex
	seen := map[message.ID]int{}
	stop := start(t, Config{Store: s, Workers: 4, Poll: 5 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			mu.Lock()
			seen[m.ID]++
			mu.Unlock()
			return store.Outcome{State: message.StateDelivered}, nil
		})}})
	for _, id := range ids {
		waitJobs(t, s, id, store.JobDone)
	}
	stop()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("message %s handled %d times", id, seen[id])
		}
		if m, _ := s.Get(context.Background(), id); m.State != message.StateDelivered {
			t.Fatalf("state %s", m.State)
		}
	}
}

func TestRetryThenDeadLetterThenReplay(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	id := ingest(t, s, 1, "ftp-ente")[0]
	var down atomic.Bool
	down.Store(true)
	var attempts atomic.Int32
	cfg := Config{Store: s, Workers: 2, Poll: 5 * time.Millisecond,
		Policy: func(*store.Job) Policy {
			return Policy{MaxAttempts: 3, Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}
		},
		Handlers: map[string]Handler{"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			attempts.Add(1)
			if down.Load() {
				return store.Outcome{}, errors.New("dial tcp 127.0.0.1:21: connection refused")
			}
			return store.Outcome{Events: []message.Event{{Type: message.EventDelivered}}}, nil
		})}}
	stop := start(t, cfg)
	dead := waitJobs(t, s, id, store.JobDead)
	if attempts.Load() != 3 || dead.Attempts != 3 {
		t.Fatalf("%d attempts before the dead letter, want 3", attempts.Load())
	}
	evs, _ := s.Events(context.Background(), id)
	var failed, buried int
	for _, e := range evs {
		switch e.Type {
		case message.EventAttemptFailed:
			failed++
		case message.EventDeadLettered:
			buried++
		}
	}
	if failed != 2 || buried != 1 {
		t.Fatalf("timeline has %d failed attempts and %d dead letters: %+v", failed, buried, evs)
	}
	down.Store(false)
	if n, _ := s.Replay(context.Background(), id, 0); n != 1 {
		t.Fatal("replay revived nothing")
	}
	waitJobs(t, s, id, store.JobDone)
	stop()
	if attempts.Load() != 4 {
		t.Fatalf("%d attempts in all, want 4 (3 failed + 1 after replay)", attempts.Load())
	}
}

func TestPermanentErrorsAndPanicsDeadLetterAtOnce(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	ids := ingest(t, s, 2, "x")
	stop := start(t, Config{Store: s, Poll: 5 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			if m.FileName == "0.xml" {
				return store.Outcome{}, Permanent(errors.New("530 Login incorrect"))
			}
			panic("boom")
		})}})
	for _, id := range ids {
		j := waitJobs(t, s, id, store.JobDead)
		if j.Attempts != 1 {
			t.Fatalf("dead after %d attempts, want 1", j.Attempts)
		}
	}
	stop()
}

func TestUnknownHandlerIsADeadLetter(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	id := ingest(t, s, 1, "x")[0]
	stop := start(t, Config{Store: s, Poll: 5 * time.Millisecond, Handlers: map[string]Handler{}})
	j := waitJobs(t, s, id, store.JobDead)
	stop()
	if j.LastError == "" {
		t.Fatal("no reason recorded")
	}
}

func TestGracefulShutdownReleasesInFlight(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	id := ingest(t, s, 1, "slow")[0]
	started := make(chan struct{})
	var once sync.Once
	stop := start(t, Config{Store: s, Poll: 5 * time.Millisecond, Grace: 50 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			once.Do(func() { close(started) })
			<-ctx.Done() // a delivery stuck on a slow peer
			return store.Outcome{}, ctx.Err()
		})}})
	<-started
	stop()
	js, _ := s.Jobs(context.Background(), id)
	if js[0].State != store.JobPending || js[0].Attempts != 0 || js[0].LeaseOwner != "" {
		t.Fatalf("after shutdown the job is %+v; want pending, attempt not counted, no owner", js[0])
	}
	// The next engine delivers it.
	stop = start(t, Config{Store: s, Poll: 5 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			return store.Outcome{}, nil
		})}})
	waitJobs(t, s, id, store.JobDone)
	stop()
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	id := ingest(t, s, 1, "x")[0]
	// A worker of another process claims the job and dies.
	if js, _ := s.Claim(context.Background(), "dead-process", 1, 100*time.Millisecond); len(js) != 1 {
		t.Fatal("claim")
	}
	stop := start(t, Config{Store: s, Poll: 10 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			return store.Outcome{}, nil
		})}})
	j := waitJobs(t, s, id, store.JobDone)
	stop()
	if j.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", j.Attempts)
	}
	evs, _ := s.Events(context.Background(), id)
	found := false
	for _, e := range evs {
		found = found || e.Type == message.EventLeaseRecovered
	}
	if !found {
		t.Fatal("the takeover is not on the timeline")
	}
}

func TestLongJobsRenewTheirLease(t *testing.T) {
	s := storetest.OpenSQLite(t, store.Options{})
	id := ingest(t, s, 1, "x")[0]
	var runs atomic.Int32
	stop := start(t, Config{Store: s, Workers: 2, Lease: 90 * time.Millisecond, Poll: 5 * time.Millisecond, Handlers: map[string]Handler{
		"deliver": HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
			runs.Add(1)
			time.Sleep(400 * time.Millisecond) // four leases long
			return store.Outcome{}, nil
		})}})
	waitJobs(t, s, id, store.JobDone)
	stop()
	if runs.Load() != 1 {
		t.Fatalf("a job whose lease was renewed ran %d times", runs.Load())
	}
}

func TestBackoff(t *testing.T) {
	p := Policy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.Backoff(i+1, nil); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		got := p.Backoff(3, rnd)
		if got < 3200*time.Millisecond || got > 4800*time.Millisecond {
			t.Fatalf("jittered backoff %s outside 4s ± 20%%", got)
		}
	}
}
