package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// rssBytes reads the resident set size of this process.
func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// peakSampler samples a value every millisecond until stopped and keeps the maximum.
func peakSampler(sample func() int64) (stop func() int64) {
	var mu sync.Mutex
	peak := sample()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := sample()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	return func() int64 { close(done); mu.Lock(); defer mu.Unlock(); return peak }
}

func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// BenchmarkQueueMemory fills the queue with 100,000 messages whose destination is
// down, runs the hub over them for a while (claims, failed attempts, retries), and
// reports the peak resident memory of the process. The queue lives in the store, not
// in memory: the figure must stay flat whatever the queue depth.
// Run: go test -run '^$' -bench QueueMemory -benchtime 1x ./pkg/hub
func BenchmarkQueueMemory(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		s := storetest.OpenSQLite(b, store.Options{})
		ctx := context.Background()
		payload := bytes.Repeat([]byte("y"), 1024)
		const batch = 1000
		for k := 0; k < n; k += batch {
			err := s.WithTx(ctx, func(tx store.Tx) error {
				for j := k; j < k+batch; j++ {
					name := fmt.Sprintf("q%06d.xml", j)
					if _, _, err := tx.Ingest(store.NewMessage{Message: &message.Message{Ente: "a", Flow: message.FlowForward,
						Kind: message.KindFile, FileName: name, Files: []message.File{{Name: name, Data: payload}}},
						Jobs: []store.JobSpec{{Handler: "deliver", Target: "forward.bench.to", Params: map[string]string{"ente": "a"}}}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		before := rssBytes()
		// The destination is a file where a folder should be: every delivery fails.
		os.WriteFile(filepath.Join(dir, "outbox"), []byte("x"), 0o644)
		stop := benchHub(b, s, dir)
		peak := peakSampler(rssBytes)
		time.Sleep(20 * time.Second)
		p := peak()
		stop()
		st, _ := s.Stats(ctx)
		b.ReportMetric(float64(before)/(1<<20), "MB-rss-queued")
		b.ReportMetric(float64(p)/(1<<20), "MB-rss-peak")
		b.ReportMetric(float64(st.Pending+st.Running+st.Dead), "jobs-in-queue")
	}
}

// BenchmarkLargePayload relays one 30 MB file from the inbox to the outbox and
// reports the peak Go heap growth over an idle hub, in multiples of the payload: the
// file must never be held more than twice at once. The collector runs at GOGC=5 so
// that heap in use tracks what is held (live) rather than garbage awaiting collection.
// Run: go test -run '^$' -bench LargePayload -benchtime 3x ./pkg/hub
func BenchmarkLargePayload(b *testing.B) {
	const size = 30 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		s := storetest.OpenSQLite(b, store.Options{})
		stop := benchHub(b, s, dir)
		runtime.GC()
		base := heapInuse()
		peak := peakSampler(heapInuse)
		drop(b, filepath.Join(dir, "inbox"), "big.xml", payload)
		waitOutbox(b, filepath.Join(dir, "outbox"), 1)
		p := peak()
		stop()
		b.ReportMetric(float64(p-base)/float64(size), "x-payload-peak-heap")
	}
}
