// Package storetest is the conformance suite every store.Store implementation must
// pass, and helpers that open real stores (SQLite in a temporary directory, PostgreSQL
// in a fresh schema) for other packages' tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
)

// Opener opens a fresh, empty store for one test. now is the store's clock.
type Opener func(t *testing.T, now func() time.Time) store.Store

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time        { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration)   { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                 { return &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)} }
func msg(name string) *message.Message { return msgWith(name, []byte("<a>"+name+"</a>")) }
func msgWith(name string, data []byte) *message.Message {
	return &message.Message{Ente: "comune-a", Flow: message.FlowForward, Kind: message.KindFile, FileName: name,
		Files: []message.File{{Name: name, Data: data}}}
}

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("IngestAndRead", func(t *testing.T) {
		c := newClock()
		s := open(t, c.now)
		payload := bytes.Repeat([]byte("x"), 1<<20)
		m := msgWith("IT01234567890_00001.xml", payload)
		m.Headers = map[string]string{message.HeaderIdentificativoSdI: "123456789012"}
		m.CorrelationID = "corr-1"
		m.Files = append(m.Files, message.File{Name: "IT01234567890_00001_MT_001.xml", Role: message.RoleMetadata, Data: []byte("<mt/>")})
		id, created, err := s.Ingest(ctx, store.NewMessage{Message: m, Keys: []string{"sdi:123456789012"},
			Jobs: []store.JobSpec{{Handler: "deliver", Target: "passive.protocol"}}})
		if err != nil || !created {
			t.Fatalf("Ingest = %v, %v", created, err)
		}
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.FileName != m.FileName || got.Ente != "comune-a" || got.State != message.StateReceived ||
			got.Header(message.HeaderIdentificativoSdI) != "123456789012" || got.CorrelationID != "corr-1" ||
			got.Size != int64(len(payload)) || len(got.SHA256) != 64 || !got.CreatedAt.Equal(c.now()) {
			t.Fatalf("Get returned %+v", got)
		}
		files, err := s.Files(ctx, id)
		if err != nil || len(files) != 2 || files[0].Role != message.RoleMain || files[1].Role != message.RoleMetadata ||
			files[0].Size != int64(len(payload)) || files[0].Data != nil {
			t.Fatalf("Files = %+v, %v", files, err)
		}
		data, err := s.ReadFile(ctx, id, m.FileName)
		if err != nil || !bytes.Equal(data, payload) {
			t.Fatalf("ReadFile: %d bytes, %v", len(data), err)
		}
		if _, err := s.ReadFile(ctx, id, "missing.xml"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ReadFile of a missing file: %v", err)
		}
		if _, err := s.Get(ctx, "00000000000000000000000000"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing message: %v", err)
		}
		if _, _, err := s.Ingest(ctx, store.NewMessage{Message: msg("other.xml"), Keys: []string{"sdi:1234567890", "sdj:x"}}); err != nil {
			t.Fatal(err)
		}
		refs, err := s.FindKeys(ctx, "sdi:12345", 10)
		if err != nil || len(refs) != 2 || refs[0].Key != "sdi:1234567890" || refs[1].Key != "sdi:123456789012" || refs[1].MessageID != id {
			t.Fatalf("FindKeys = %+v, %v", refs, err)
		}
		ids, err := s.FindByKey(ctx, "sdi:123456789012")
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("FindByKey = %v, %v", ids, err)
		}
		evs, err := s.Events(ctx, id)
		if err != nil || len(evs) != 1 || evs[0].Type != message.EventReceived {
			t.Fatalf("Events = %+v, %v", evs, err)
		}
		jobs, err := s.Jobs(ctx, id)
		if err != nil || len(jobs) != 1 || jobs[0].State != store.JobPending || jobs[0].Target != "passive.protocol" {
			t.Fatalf("Jobs = %+v, %v", jobs, err)
		}
	})

	t.Run("ThirtyMegabytePayload", func(t *testing.T) {
		s := open(t, nil)
		payload := bytes.Repeat([]byte("0123456789abcdef"), 30<<20/16)
		id, _, err := s.Ingest(ctx, store.NewMessage{Message: msgWith("big.xml", payload)})
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.ReadFile(ctx, id, "big.xml")
		if err != nil || !bytes.Equal(data, payload) {
			t.Fatalf("30 MB round trip: %d bytes, %v", len(data), err)
		}
	})

	t.Run("DedupKey", func(t *testing.T) {
		s := open(t, nil)
		first := msg("a.xml")
		first.DedupKey = "sdi:42:invoice"
		id1, created, err := s.Ingest(ctx, store.NewMessage{Message: first, Jobs: []store.JobSpec{{Handler: "deliver", Target: "x"}}})
		if err != nil || !created {
			t.Fatal(created, err)
		}
		again := msg("a.xml")
		again.DedupKey = "sdi:42:invoice"
		id2, created, err := s.Ingest(ctx, store.NewMessage{Message: again, Jobs: []store.JobSpec{{Handler: "deliver", Target: "x"}}})
		if err != nil || created || id2 != id1 {
			t.Fatalf("redelivery: id %s (first %s), created %v, err %v", id2, id1, created, err)
		}
		if list, _ := s.List(ctx, store.Filter{}); len(list) != 1 {
			t.Fatalf("%d messages after a redelivery, want 1", len(list))
		}
		if jobs, _ := s.Jobs(ctx, id1); len(jobs) != 1 {
			t.Fatalf("%d jobs after a redelivery, want 1", len(jobs))
		}
		evs, _ := s.Events(ctx, id1)
		if len(evs) != 2 || evs[1].Type != message.EventDuplicate {
			t.Fatalf("events %+v: want received then duplicate", evs)
		}
		// Concurrent redeliveries still make one message.
		var wg sync.WaitGroup
		var mu sync.Mutex
		createdN := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := msg("b.xml")
				m.DedupKey = "src:comune-a:b.xml"
				_, c, err := s.Ingest(ctx, store.NewMessage{Message: m})
				if err != nil {
					t.Error(err)
				}
				if c {
					mu.Lock()
					createdN++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if createdN != 1 {
			t.Fatalf("concurrent ingests of one key created %d messages", createdN)
		}
	})

	t.Run("ClaimCompleteLease", func(t *testing.T) {
		c := newClock()
		s := open(t, c.now)
		id, _, _ := s.Ingest(ctx, store.NewMessage{Message: msg("a.xml"), Jobs: []store.JobSpec{
			{Handler: "deliver", Target: "now"}, {Handler: "deliver", Target: "later", NotBefore: c.now().Add(time.Minute)}}})
		jobs, err := s.Claim(ctx, "w1", 10, 30*time.Second)
		if err != nil || len(jobs) != 1 || jobs[0].Target != "now" || jobs[0].Attempts != 1 || jobs[0].State != store.JobRunning {
			t.Fatalf("Claim = %+v, %v", jobs, err)
		}
		if again, _ := s.Claim(ctx, "w2", 10, 30*time.Second); len(again) != 0 {
			t.Fatalf("a leased job was claimed twice: %+v", again)
		}
		// The lease expires: another worker takes the job; the first one has lost it.
		c.add(31 * time.Second)
		taken, err := s.Claim(ctx, "w2", 10, 30*time.Second)
		if err != nil || len(taken) != 1 || !taken[0].Recovered || taken[0].Attempts != 2 {
			t.Fatalf("expired lease: Claim = %+v, %v", taken, err)
		}
		if err := s.Complete(ctx, &jobs[0], store.Outcome{State: message.StateDelivered}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("Complete with a lost lease = %v", err)
		}
		if m, _ := s.Get(ctx, id); m.State != message.StateReceived {
			t.Fatalf("a lost-lease completion changed the state to %s", m.State)
		}
		if err := s.Complete(ctx, &taken[0], store.Outcome{State: message.StateDelivered, Headers: map[string]string{"NumeroProtocollo": "7"},
			Events: []message.Event{{Type: message.EventDelivered, Target: "now"}},
			Next:   []store.JobSpec{{Handler: "deliver", Target: "accounting"}}}); err != nil {
			t.Fatal(err)
		}
		m, _ := s.Get(ctx, id)
		if m.State != message.StateDelivered || m.Header("NumeroProtocollo") != "7" {
			t.Fatalf("after Complete: %+v", m)
		}
		c.add(2 * time.Minute)
		due, _ := s.Claim(ctx, "w1", 10, time.Minute)
		targets := map[string]bool{}
		for _, j := range due {
			targets[j.Target] = true
		}
		if len(due) != 2 || !targets["later"] || !targets["accounting"] {
			t.Fatalf("due jobs %+v: want later and accounting", due)
		}
		evs, _ := s.Events(ctx, id)
		var types []string
		for _, e := range evs {
			types = append(types, string(e.Type))
		}
		if got := strings.Join(types, ","); got != "received,lease_recovered,delivered,state" {
			t.Fatalf("timeline %s", got)
		}
	})

	t.Run("RetryBuryReplay", func(t *testing.T) {
		c := newClock()
		s := open(t, c.now)
		id, _, _ := s.Ingest(ctx, store.NewMessage{Message: msg("a.xml"), Jobs: []store.JobSpec{{Handler: "deliver", Target: "ftp"}}})
		j, _ := s.Claim(ctx, "w", 1, time.Minute)
		if err := s.Retry(ctx, &j[0], c.now().Add(10*time.Second), errors.New("connection refused")); err != nil {
			t.Fatal(err)
		}
		if j2, _ := s.Claim(ctx, "w", 1, time.Minute); len(j2) != 0 {
			t.Fatal("a retried job was claimed before its due time")
		}
		c.add(11 * time.Second)
		j2, _ := s.Claim(ctx, "w", 1, time.Minute)
		if len(j2) != 1 || j2[0].Attempts != 2 || j2[0].LastError != "connection refused" {
			t.Fatalf("retried job %+v", j2)
		}
		if err := s.Bury(ctx, &j2[0], errors.New("530 login incorrect")); err != nil {
			t.Fatal(err)
		}
		dead, _ := s.DeadLetters(ctx, 10)
		if len(dead) != 1 || dead[0].MessageID != id || dead[0].LastError != "530 login incorrect" {
			t.Fatalf("DeadLetters = %+v", dead)
		}
		st, _ := s.Stats(ctx)
		if st.Dead != 1 || st.Pending != 0 {
			t.Fatalf("Stats = %+v", st)
		}
		n, err := s.Replay(ctx, id, 0)
		if err != nil || n != 1 {
			t.Fatalf("Replay = %d, %v", n, err)
		}
		j3, _ := s.Claim(ctx, "w", 1, time.Minute)
		if len(j3) != 1 || j3[0].Attempts != 1 {
			t.Fatalf("replayed job %+v: want a fresh attempt count", j3)
		}
		if n, _ := s.Replay(ctx, id, 0); n != 0 {
			t.Fatal("Replay revived a job that is not dead")
		}
	})

	t.Run("ReleaseOnShutdown", func(t *testing.T) {
		s := open(t, nil)
		for i := 0; i < 3; i++ {
			s.Ingest(ctx, store.NewMessage{Message: msg(fmt.Sprintf("%d.xml", i)), Jobs: []store.JobSpec{{Handler: "deliver"}}})
		}
		j, _ := s.Claim(ctx, "w1", 2, time.Hour)
		if len(j) != 2 {
			t.Fatalf("claimed %d", len(j))
		}
		n, err := s.Release(ctx, "w1")
		if err != nil || n != 2 {
			t.Fatalf("Release = %d, %v", n, err)
		}
		j2, _ := s.Claim(ctx, "w2", 10, time.Hour)
		if len(j2) != 3 {
			t.Fatalf("after release, claimed %d of 3", len(j2))
		}
		for _, j := range j2 {
			if j.Attempts != 1 {
				t.Fatalf("a released job kept its attempt: %+v", j)
			}
		}
	})

	t.Run("AwaitReceipt", func(t *testing.T) {
		c := newClock()
		s := open(t, c.now)
		id, _, _ := s.Ingest(ctx, store.NewMessage{Message: msg("a.xml"), Jobs: []store.JobSpec{{Handler: "deliver", Target: "pec"}}})
		j, _ := s.Claim(ctx, "w", 1, time.Minute)
		if err := s.Complete(ctx, &j[0], store.Outcome{Await: &store.Await{Key: "<abc@pec>", Deadline: c.now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Stats(ctx); st.Awaiting != 1 {
			t.Fatalf("Stats %+v: want one awaiting", st)
		}
		got, err := s.ResolveAwait(ctx, "<abc@pec>", true, "avvenuta-consegna", store.Outcome{State: message.StateDelivered})
		if err != nil || got.State != store.JobDone {
			t.Fatalf("ResolveAwait = %+v, %v", got, err)
		}
		if m, _ := s.Get(ctx, id); m.State != message.StateDelivered {
			t.Fatalf("state %s", m.State)
		}
		if _, err := s.ResolveAwait(ctx, "<unknown@pec>", true, "", store.Outcome{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
		// A failure receipt makes the job due again; no receipt at all is overdue.
		id2, _, _ := s.Ingest(ctx, store.NewMessage{Message: msg("b.xml"), Jobs: []store.JobSpec{{Handler: "deliver", Target: "pec"}}})
		j, _ = s.Claim(ctx, "w", 1, time.Minute)
		s.Complete(ctx, &j[0], store.Outcome{Await: &store.Await{Key: "<b@pec>", Deadline: c.now().Add(time.Hour)}})
		got, err = s.ResolveAwait(ctx, "<b@pec>", false, "errore-consegna: casella piena", store.Outcome{})
		if err != nil || got.State != store.JobPending {
			t.Fatalf("failure receipt: %+v, %v", got, err)
		}
		j, _ = s.Claim(ctx, "w", 1, time.Minute)
		if len(j) != 1 || j[0].MessageID != id2 || j[0].LastError != "errore-consegna: casella piena" {
			t.Fatalf("after a failure receipt: %+v", j)
		}
		// A failure receipt with a backoff, then one that buries the job.
		s.Complete(ctx, &j[0], store.Outcome{Await: &store.Await{Key: "<b1@pec>", Deadline: c.now().Add(time.Hour)}})
		if aj, err := s.AwaitingJob(ctx, "<b1@pec>"); err != nil || aj.ID != j[0].ID {
			t.Fatalf("AwaitingJob = %+v, %v", aj, err)
		}
		if _, err := s.FailAwait(ctx, "<b1@pec>", "errore-consegna", c.now().Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if early, _ := s.Claim(ctx, "w", 1, time.Minute); len(early) != 0 {
			t.Fatal("a job retried with backoff was due at once")
		}
		c.add(2 * time.Minute)
		j, _ = s.Claim(ctx, "w", 1, time.Minute)
		s.Complete(ctx, &j[0], store.Outcome{Await: &store.Await{Key: "<b1b@pec>", Deadline: c.now().Add(time.Hour)}})
		if dj, err := s.FailAwait(ctx, "<b1b@pec>", "errore-consegna definitivo", time.Time{}, true); err != nil || dj.State != store.JobDead {
			t.Fatalf("FailAwait(bury) = %+v, %v", dj, err)
		}
		if dead, _ := s.DeadLetters(ctx, 10); len(dead) != 1 || dead[0].MessageID != id2 {
			t.Fatalf("dead letters %+v", dead)
		}
		if _, err := s.AwaitingJob(ctx, "<nobody@pec>"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("AwaitingJob of an unknown key: %v", err)
		}
		// Put the second message back on the happy path for the rest of the test.
		s.Replay(ctx, id2, 0)
		j, _ = s.Claim(ctx, "w", 1, time.Minute)
		s.Complete(ctx, &j[0], store.Outcome{Await: &store.Await{Key: "<b2@pec>", Deadline: c.now().Add(time.Hour)}})
		if od, _ := s.Overdue(ctx, c.now()); len(od) != 0 {
			t.Fatal("overdue before the deadline")
		}
		c.add(2 * time.Hour)
		od, err := s.Overdue(ctx, c.now())
		if err != nil || len(od) != 1 || od[0].AwaitKey != "<b2@pec>" {
			t.Fatalf("Overdue = %+v, %v", od, err)
		}
		if j, _ := s.Claim(ctx, "w", 1, time.Minute); len(j) != 1 {
			t.Fatal("an overdue job is not due again")
		}
	})

	t.Run("ConcurrentClaimsNeverShare", func(t *testing.T) {
		s := open(t, nil)
		const n = 200
		for i := 0; i < n; i++ {
			s.Ingest(ctx, store.NewMessage{Message: msg(fmt.Sprintf("%d.xml", i)), Jobs: []store.JobSpec{{Handler: "deliver"}}})
		}
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(owner string) {
				defer wg.Done()
				for {
					js, err := s.Claim(ctx, owner, 7, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(js) == 0 {
						return
					}
					for i := range js {
						mu.Lock()
						if prev, dup := seen[js[i].ID]; dup {
							t.Errorf("job %d claimed by %s and %s", js[i].ID, prev, owner)
						}
						seen[js[i].ID] = owner
						mu.Unlock()
						if err := s.Complete(ctx, &js[i], store.Outcome{}); err != nil {
							t.Error(err)
						}
					}
				}
			}(fmt.Sprintf("w%d", w))
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d jobs done, want %d", len(seen), n)
		}
	})

	t.Run("JobKeyAndCounters", func(t *testing.T) {
		s := open(t, nil)
		id, _, _ := s.Ingest(ctx, store.NewMessage{Message: msg("a.xml")})
		for i := 0; i < 2; i++ {
			if err := s.WithTx(ctx, func(tx store.Tx) error {
				return tx.Enqueue(store.JobSpec{MessageID: id, Handler: "deliver", Key: "once"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		if js, _ := s.Jobs(ctx, id); len(js) != 1 {
			t.Fatalf("a keyed job enqueued twice makes %d jobs", len(js))
		}
		var wg sync.WaitGroup
		vals := make(chan int64, 100)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 25; k++ {
					v, err := s.NextCounter(ctx, "progressivo:IT01234567890")
					if err != nil {
						t.Error(err)
						return
					}
					vals <- v
				}
			}()
		}
		wg.Wait()
		close(vals)
		got := map[int64]bool{}
		for v := range vals {
			if got[v] {
				t.Fatalf("counter value %d returned twice", v)
			}
			got[v] = true
		}
		if len(got) != 100 || !got[1] || !got[100] {
			t.Fatalf("counter values: %d distinct", len(got))
		}
	})

	t.Run("PanicInTxIsTheCallersError", func(t *testing.T) {
		s := open(t, nil)
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic reached the caller: %v", r)
				}
			}()
			return s.WithTx(ctx, func(tx store.Tx) error {
				if _, _, err := tx.Ingest(store.NewMessage{Message: msg("p.xml")}); err != nil {
					return err
				}
				panic("bug in a caller")
			})
		}()
		if err == nil {
			t.Fatal("a panicking transaction succeeded")
		}
		if l, _ := s.List(ctx, store.Filter{}); len(l) != 0 {
			t.Fatal("a panicking transaction left a message")
		}
		// The store still works.
		if _, created, err := s.Ingest(ctx, store.NewMessage{Message: msg("after.xml")}); err != nil || !created {
			t.Fatalf("store after a panic: %v", err)
		}
	})

	t.Run("ConcurrentTransactionsFailAlone", func(t *testing.T) {
		// Many concurrent transactions, every third failing after it wrote: the failures
		// leave nothing, the others commit whole (under group commit they share commits).
		s := open(t, nil)
		var wg sync.WaitGroup
		errs := make([]error, 60)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = s.WithTx(ctx, func(tx store.Tx) error {
					if _, _, err := tx.Ingest(store.NewMessage{Message: msg(fmt.Sprintf("c%02d.xml", i)),
						Jobs: []store.JobSpec{{Handler: "deliver"}}}); err != nil {
						return err
					}
					if i%3 == 0 {
						return fmt.Errorf("refused %d", i)
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if (i%3 == 0) != (err != nil) {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		l, _ := s.List(ctx, store.Filter{Limit: 100})
		if len(l) != 40 {
			t.Fatalf("%d messages committed, want 40", len(l))
		}
		for _, m := range l {
			var n int
			fmt.Sscanf(m.FileName, "c%02d.xml", &n)
			if n%3 == 0 {
				t.Fatalf("a failed transaction left %s", m.FileName)
			}
		}
		if st, _ := s.Stats(ctx); st.Pending != 40 {
			t.Fatalf("%d jobs pending, want 40", st.Pending)
		}
	})

	t.Run("TxRollsBackTogether", func(t *testing.T) {
		s := open(t, nil)
		boom := errors.New("boom")
		err := s.WithTx(ctx, func(tx store.Tx) error {
			if _, _, err := tx.Ingest(store.NewMessage{Message: msg("a.xml"), Jobs: []store.JobSpec{{Handler: "deliver"}}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if l, _ := s.List(ctx, store.Filter{}); len(l) != 0 {
			t.Fatal("a rolled back ingest left a message")
		}
		if st, _ := s.Stats(ctx); st.Pending != 0 {
			t.Fatal("a rolled back ingest left a job")
		}
	})

	t.Run("Counts", func(t *testing.T) { runCounts(t, open(t, nil)) })

	t.Run("ListFilters", func(t *testing.T) {
		s := open(t, nil)
		for i := 0; i < 5; i++ {
			m := msg(fmt.Sprintf("%d.xml", i))
			if i%2 == 0 {
				m.Ente = "comune-b"
			}
			s.Ingest(ctx, store.NewMessage{Message: m})
		}
		l, err := s.List(ctx, store.Filter{Ente: "comune-b"})
		if err != nil || len(l) != 3 {
			t.Fatalf("List(ente) = %d, %v", len(l), err)
		}
		page, _ := s.List(ctx, store.Filter{Limit: 2})
		rest, _ := s.List(ctx, store.Filter{Before: page[1].ID})
		if len(page) != 2 || len(rest) != 3 || page[0].ID <= page[1].ID {
			t.Fatalf("pagination: %d then %d", len(page), len(rest))
		}
	})
}

// OpenSQLite opens a fresh SQLite store in a temporary directory.
func OpenSQLite(t testing.TB, opts store.Options) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN is the server tests use: $SNODO_TEST_POSTGRES, or the local one.
func PostgresDSN() string {
	if d := os.Getenv("SNODO_TEST_POSTGRES"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NewPostgresSchema creates an empty schema for one test, dropped at cleanup, and
// returns a DSN whose search_path points at it.
func NewPostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresDSN()
	admin, err := store.OpenPostgresAdmin(context.Background(), base)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (start it, or set SNODO_TEST_POSTGRES): %v", err)
	}
	schema := fmt.Sprintf("t_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// OpenPostgres opens a store in a fresh PostgreSQL schema.
func OpenPostgres(t testing.TB, opts store.Options) store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), NewPostgresSchema(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// (Counts is exercised by RunCounts, called from Run.)
func runCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		m := msg(fmt.Sprintf("c%d.xml", i))
		if i == 2 {
			m.State = message.StateDelivered
		}
		if _, _, err := s.Ingest(ctx, store.NewMessage{Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range cs {
		got[c.Ente+"/"+c.Flow+"/"+c.Kind+"/"+c.State] = c.N
	}
	if got["comune-a/forward/file/received"] != 2 || got["comune-a/forward/file/delivered"] != 1 || len(got) != 2 {
		t.Fatalf("Counts = %v", got)
	}
}

// OpenSQLiteAt opens the SQLite store in an existing data directory.
func OpenSQLiteAt(t testing.TB, dir string) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
