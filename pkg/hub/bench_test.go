package hub_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/hub"
	"snodo/pkg/hub/hubtest"
	"snodo/pkg/route"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// dropFiles writes n files of size bytes into dir.
func dropFiles(b testing.TB, dir string, n, size int) {
	os.MkdirAll(dir, 0o755)
	pad := bytes.Repeat([]byte("x"), size)
	for i := 0; i < n; i++ {
		drop(b, dir, fmt.Sprintf("f%07d.xml", i), pad)
	}
}

func countRegular(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// benchHub runs an in-process hub relaying inbox → outbox on the given store.
func benchHub(b *testing.B, s store.Store, dir string) (stop func()) {
	routes := filepath.Join(dir, "routes")
	os.MkdirAll(routes, 0o755)
	os.WriteFile(filepath.Join(routes, "a.yaml"), []byte(`ente: {name: A, codice_fiscale: "00000000000"}
forward:
  - name: bench
    from: {channel: fs, url: "file:inbox", settings: {poll: 5ms, min_age: -1ns}}
    to: {channel: fs, url: "file:outbox"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte("listen: {http: 127.0.0.1:0}\ndata_dir: .\nroutes_dir: routes\nengine: {workers: 8, poll: 5ms}\n"), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind())}
	cfg, err := l.LoadConfig(filepath.Join(dir, "snodo.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		b.Fatal(err)
	}
	return hubtest.Start(b, hub.Options{Config: cfg, Routes: rs, Channels: l.Channels, Store: s}).Stop
}

func waitOutbox(b *testing.B, dir string, n int) {
	deadline := time.Now().Add(10 * time.Minute)
	for countRegular(dir) < n {
		if time.Now().After(deadline) {
			b.Fatalf("outbox holds %d of %d", countRegular(dir), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkForward measures messages/s from an inbox folder through the journal to an
// outbox folder (10 KB files, fsync'd atomic writes, durable commits), on SQLite and on
// PostgreSQL, beside a baseline doing the same file moves with the same 8 workers and
// no hub. Run: go test -run '^$' -bench Forward -benchtime 2000x ./pkg/hub
func BenchmarkForward(b *testing.B) {
	const size = 10 * 1024
	b.Run("baseline-file-moves", func(b *testing.B) {
		dir := b.TempDir()
		in, out := filepath.Join(dir, "inbox"), filepath.Join(dir, "outbox")
		dropFiles(b, in, b.N, size)
		os.MkdirAll(out, 0o755)
		b.ResetTimer()
		entries, _ := os.ReadDir(in)
		work := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range work {
					data, _ := os.ReadFile(filepath.Join(in, name))
					tmp := filepath.Join(out, "."+name+".tmp")
					f, _ := os.Create(tmp)
					f.Write(data)
					f.Sync()
					f.Close()
					os.Rename(tmp, filepath.Join(out, name))
					d, _ := os.Open(out)
					d.Sync()
					d.Close()
					os.Remove(filepath.Join(in, name))
				}
			}()
		}
		for _, e := range entries {
			work <- e.Name()
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	for _, db := range []string{"sqlite", "sqlite-nogroup", "postgres"} {
		b.Run("hub-"+db, func(b *testing.B) {
			dir := b.TempDir()
			var s store.Store
			if db == "sqlite" || db == "sqlite-nogroup" {
				s = storetest.OpenSQLite(b, store.Options{NoGroupCommit: db == "sqlite-nogroup"})
			} else {
				s = storetest.OpenPostgres(b, store.Options{})
			}
			stop := benchHub(b, s, dir)
			defer stop()
			b.ResetTimer()
			dropFiles(b, filepath.Join(dir, "inbox"), b.N, size)
			waitOutbox(b, filepath.Join(dir, "outbox"), b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
