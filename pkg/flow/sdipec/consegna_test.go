package sdipec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"snodo/pkg/flow/active"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/message"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/store"
)

// waitJob waits for message id's job of handler to reach state.
func (e *env) waitJob(id message.ID, handler string, state store.JobState) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		jobs, err := e.store().Jobs(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Handler == handler && j.State == state {
				return j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("message %s: no %s job %s\n%s", id, handler, state, e.timeline(id))
	return store.Job{}
}

// TestReceiptNeverComes: a PEC to the SdI whose delivery receipt never comes. When the
// SdI answered anyway, the job ends without a second PEC; when it did not, the job is
// dead-lettered for an operator, and a replay sends the file again.
func TestReceiptNeverComes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	e := newEnvWith(t, envOptions{receiptTimeout: 700 * time.Millisecond})

	t.Run("no receipt, but the SdI answered: done, not sent again", func(t *testing.T) {
		e.pec.SetFault(sdi01, pecsim.Fault{Kind: pecsim.FaultNoReceipt, Times: 1})
		drop(t, e.data("a", "in"), "fattura-1.xml", activeInvoice("AAAAAA", "1"))
		inv := e.submission("fattura-1.xml", active.Accettata)
		e.waitJob(inv.ID, sdipec.HandlerConsegna, store.JobDone)
		if !e.hasEvent(inv.ID, message.EventNote, sdipec.TargetPEC, "lo SdI ha già il file") {
			t.Fatalf("no note:\n%s", e.timeline(inv.ID))
		}
	})

	t.Run("no receipt, no answer: dead letter, then a replay sends it again", func(t *testing.T) {
		assigned := e.front.Assigned(hubBox)
		e.pec.SetFault(assigned, pecsim.Fault{Kind: pecsim.FaultNoReceipt, Times: 1})
		drop(t, e.data("a", "in"), "fattura-2.xml", activeInvoice("FFFFFF", "2")) // the SdI stays silent
		inv := e.submission("fattura-2.xml", active.Inviata)
		j := e.waitJob(inv.ID, sdipec.HandlerConsegna, store.JobDead)
		if !strings.Contains(j.LastError, "serve un operatore") || !strings.Contains(j.LastError, "snodo replay") {
			t.Fatalf("dead letter says %q", j.LastError)
		}
		nome := inv.Header(active.HeaderNomeFile)
		if n, err := e.store().Replay(context.Background(), inv.ID, j.ID); err != nil || n != 1 {
			t.Fatalf("replay: %d %v", n, err)
		}
		e.hub().Notify()
		e.waitJob(inv.ID, sdipec.HandlerConsegna, store.JobDone)
		n := 0
		for _, ev := range e.front.Events() {
			if ev.Azione == "PEC" && ev.File == nome {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%s reached the SdI %d times, want 2 (the first without receipt, the replay)", nome, n)
		}
		if got := e.get(inv.ID).Header(sdipec.HeaderMessageID); got == j.Params["pec"] {
			t.Fatalf("the replay did not record its PEC: %s", got)
		}
	})
}
