package ftp_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/batch"
	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

var batchTime = time.Date(2025, 1, 31, 9, 20, 0, 0, time.UTC)

func batchSettings() *ftp.Settings {
	return &ftp.Settings{Batch: ftp.BatchIntermediaMarche, CodiceFiscale: "IT01234567890", FlushEvery: time.Hour}
}

func flush(t *testing.T, s channel.Sender) error {
	t.Helper()
	f, ok := s.(ftp.Flusher)
	if !ok {
		t.Fatal("batch sender is not a Flusher")
	}
	return f.Flush(context.Background())
}

// remoteZips checks every supporto in a server folder and returns them by name.
func remoteZips(t *testing.T, dir string) map[string]*batch.Checked {
	t.Helper()
	out := map[string]*batch.Checked{}
	for name, data := range regularFiles(t, dir) {
		if !strings.HasSuffix(name, ".zip.done") {
			t.Fatalf("unexpected file %s in the outbound folder", name)
		}
		c, err := batch.Check(name, bytes.NewReader(data), int64(len(data)), batch.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = c
	}
	return out
}

func invoice(i int) string { return fmt.Sprintf("IT01234567890_%05d.xml", i) }

func TestBatchRoundTrip(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	clock := func() time.Time { return batchTime }
	s := newSender(t, endpoint(t, srv, "out", batchSettings(), ""), channel.Deps{DataDir: t.TempDir(), Now: clock})
	for i := 1; i <= 3; i++ {
		res, err := s.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), []byte(fmt.Sprintf("<fattura n='%d'/>", i)), mt(invoice(i))))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Detail, "accodato") {
			t.Fatalf("Detail %q", res.Detail)
		}
	}
	if n := len(regularFiles(t, srv.Path("out"))); n != 0 {
		t.Fatalf("%d files uploaded before the flush", n)
	}
	if err := flush(t, s); err != nil {
		t.Fatal(err)
	}
	const zipName = "FO.01234567890.2025031.0920.001.zip"
	zips := remoteZips(t, srv.Path("out"))
	c := zips[zipName+".done"]
	if len(zips) != 1 || c == nil {
		t.Fatalf("outbound folder holds %v", slices.Sorted(func(yield func(string) bool) {
			for k := range zips {
				yield(k)
			}
		}))
	}
	if c.QuadraturaName != "FO.01234567890.2025031.0920.001.xml" || c.Quadratura.NomeSupporto != zipName ||
		c.Quadratura.IdentificativoNodo != "01234567890" || c.Quadratura.NumeroFile[batch.Fatture] != 3 ||
		c.Quadratura.NumeroFile[batch.MetadatiInvioFile] != 3 || c.Quadratura.NumeroFile.Total() != 6 {
		t.Fatalf("quadratura %+v (%s)", c.Quadratura, c.QuadraturaName)
	}
	var inZip []string
	for _, f := range c.Files {
		inZip = append(inZip, f.Name)
	}
	want := []string{invoice(1), "IT01234567890_00001_MT_001.xml", invoice(2), "IT01234567890_00002_MT_001.xml", invoice(3), "IT01234567890_00003_MT_001.xml"}
	if !slices.Equal(inZip, want) {
		t.Fatalf("zip entries %v, want %v", inZip, want)
	}
	// Uploaded under .TEMP, then renamed.
	var renames []string
	for _, e := range srv.Events() {
		if strings.HasPrefix(e, "RNTO") {
			renames = append(renames, e)
		}
	}
	if !slices.Equal(renames, []string{"RNTO /out/" + zipName + ".done.TEMP /out/" + zipName + ".done"}) {
		t.Fatalf("renames %v", renames)
	}

	// The ente side: the same supporto dropped into the hub's inbound folder.
	zipData := regularFiles(t, srv.Path("out"))[zipName+".done"]
	putLocal(t, srv.Path("in"), zipName+".done", zipData)
	rec := channeltest.NewRecorder()
	set := batchSettings()
	set.Poll, set.OutcomeDir = 20*time.Millisecond, "../esiti"
	r := newReceiver(t, endpoint(t, srv, "in", set, ""), channel.Deps{DataDir: t.TempDir(), Now: clock})
	stop := runFor(t, r, rec)
	items := rec.WaitFor(t, 6, 10*time.Second)
	eventually(t, 5*time.Second, "the zip to be acknowledged", func() bool {
		return len(regularFiles(t, srv.Path("in/processati"))) == 1
	})
	stop()
	keys := map[string]bool{}
	for i, in := range items {
		if in.FileName != want[i] || keys[in.DedupKey] || in.Headers["NomeSupporto"] != zipName {
			t.Fatalf("item %d: %s key %s headers %v", i, in.FileName, in.DedupKey, in.Headers)
		}
		keys[in.DedupKey] = true
	}
	if string(items[2].Data) != "<fattura n='2'/>" || items[1].Headers["TipoFile"] != "MetadatiInvioFile" {
		t.Fatalf("item content %q, headers %v", items[2].Data, items[1].Headers)
	}
	if _, ok := regularFiles(t, srv.Path("in/processati"))[zipName+".done.ok"]; !ok {
		t.Fatalf("processati holds %v", names(regularFiles(t, srv.Path("in/processati"))))
	}
	esiti := regularFiles(t, srv.Path("esiti"))
	eo, err := batch.ParseEsito("EO", esiti["EO.01234567890.2025031.0920.001.xml"])
	if err != nil {
		t.Fatalf("outcome: %v (folder %v)", err, names(esiti))
	}
	if eo.Esito != batch.ET01 || eo.NomeSupporto != zipName || eo.IdentificativoNodo != "01234567890" {
		t.Fatalf("outcome %+v", eo)
	}
}

func TestBatchSplitAndSequence(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	set := batchSettings()
	set.MaxZipSize = 2500
	s := newSender(t, endpoint(t, srv, "out", set, ""), channel.Deps{DataDir: t.TempDir(), Now: func() time.Time { return batchTime }})
	body := bytes.Repeat([]byte("x"), 1000)
	for i := 1; i <= 5; i++ {
		if _, err := s.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), body)); err != nil {
			t.Fatal(err)
		}
	}
	// The same invoice sent again as another message travels in a later zip.
	if _, err := s.Send(context.Background(), delivery("m1-bis", invoice(1), body)); err != nil {
		t.Fatal(err)
	}
	if err := flush(t, s); err != nil {
		t.Fatal(err)
	}
	zips := remoteZips(t, srv.Path("out"))
	var zipNames []string
	count := map[string]int{}
	for name, c := range zips {
		zipNames = append(zipNames, name)
		if c.Quadratura.NumeroFile[batch.Fatture] != len(c.Files) {
			t.Fatalf("%s: quadratura %v for %d files", name, c.Quadratura.NumeroFile, len(c.Files))
		}
		for _, f := range c.Files {
			count[f.Name]++
		}
	}
	sort.Strings(zipNames)
	// 6 deliveries of 1000 bytes, at most 2 per zip (the flusher may also start on its
	// own when the staged bytes reach max_zip_size): 3 or more zips numbered from 001.
	if len(zipNames) < 3 {
		t.Fatalf("zips %v, want at least 3", zipNames)
	}
	for i, n := range zipNames {
		if want := fmt.Sprintf("FO.01234567890.2025031.0920.%03d.zip.done", i+1); n != want {
			t.Fatalf("zip %d is %s, want %s", i+1, n, want)
		}
		if len(zips[n].Files) > 2 {
			t.Fatalf("%s holds %d deliveries of 1000 bytes with max_zip_size 2500", n, len(zips[n].Files))
		}
	}
	if count[invoice(1)] != 2 || count[invoice(5)] != 1 || len(count) != 5 {
		t.Fatalf("files across zips: %v", count)
	}
	// A later flush in the same minute continues the sequence.
	if _, err := s.Send(context.Background(), delivery("m9", invoice(9), body)); err != nil {
		t.Fatal(err)
	}
	if err := flush(t, s); err != nil {
		t.Fatal(err)
	}
	next := fmt.Sprintf("FO.01234567890.2025031.0920.%03d.zip.done", len(zipNames)+1)
	if _, ok := remoteZips(t, srv.Path("out"))[next]; !ok {
		t.Fatalf("no %s after a second flush: %v", next, names(regularFiles(t, srv.Path("out"))))
	}
}

func TestBatchSendRefusals(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	set := batchSettings()
	set.MaxZipSize = 100
	s := newSender(t, endpoint(t, srv, "out", set, ""), channel.Deps{DataDir: t.TempDir()})
	_, err := s.Send(context.Background(), delivery("m1", invoice(1), make([]byte, 200)))
	if !channel.IsPermanent(err) || !strings.Contains(err.Error(), "max_zip_size") {
		t.Fatalf("oversize delivery: %v", err)
	}
	if _, err := s.Send(context.Background(), delivery("m2", "../x.xml", []byte("x"))); !channel.IsPermanent(err) {
		t.Fatalf("hostile name: %v", err)
	}
	if _, err := ftp.Kind().NewSender(endpoint(t, srv, "out", batchSettings(), ""), channel.Deps{}); err == nil || !strings.Contains(err.Error(), "cartella dati") {
		t.Fatalf("batch sender without a data folder: %v", err)
	}
}

func TestBatchRedeliveryReplacesStaged(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out", batchSettings(), ""), channel.Deps{DataDir: t.TempDir(), Now: func() time.Time { return batchTime }})
	for _, v := range []string{"<v1/>", "<v2/>"} {
		if _, err := s.Send(context.Background(), delivery("m1", invoice(1), []byte(v))); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(t, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range remoteZips(t, srv.Path("out")) {
		if len(c.Files) != 1 {
			t.Fatalf("%d files in the zip after a redelivery, want 1", len(c.Files))
		}
		data, _ := c.Files[0].ReadAll()
		if string(data) != "<v2/>" {
			t.Fatalf("zip holds %q, want the redelivered content", data)
		}
	}
}

// Staged deliveries survive a restart of the hub; a zip built while the server was
// down is uploaded, under the same name, by the next process.
func TestBatchSpoolSurvivesCrash(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	data := t.TempDir()
	deps := channel.Deps{DataDir: data, Now: func() time.Time { return batchTime }}
	ep := endpoint(t, srv, "out", batchSettings(), "")
	s1, err := ftp.Kind().NewSender(ep, deps)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := s1.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), []byte("<f/>"))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	if err := s1.(ftp.Flusher).Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with the server down")
	}
	s1.Close() // the process ends; the zip is built and waits locally
	built, _ := filepath.Glob(filepath.Join(data, "batches", "FO.*.zip"))
	if len(built) != 1 {
		t.Fatalf("built zips %v", built)
	}

	// A crash in the middle of building another zip: a delivery moved into a
	// .building folder with no zip written.
	s2, err := ftp.Kind().NewSender(ep, deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Send(context.Background(), delivery("m3", invoice(3), []byte("<f/>"))); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	staged, _ := filepath.Glob(filepath.Join(data, "spool", "*"))
	if len(staged) != 1 {
		t.Fatalf("staged %v", staged)
	}
	building := filepath.Join(data, "batches", "FO.01234567890.2025031.0920.009.zip.building")
	os.MkdirAll(building, 0o750)
	if err := os.Rename(staged[0], filepath.Join(building, filepath.Base(staged[0]))); err != nil {
		t.Fatal(err)
	}

	srv.Restart()
	s3 := newSender(t, ep, deps)
	if err := flush(t, s3); err != nil {
		t.Fatal(err)
	}
	zips := remoteZips(t, srv.Path("out"))
	seen := map[string]int{}
	for _, c := range zips {
		for _, f := range c.Files {
			seen[f.Name]++
		}
	}
	if len(zips) != 2 || seen[invoice(1)] != 1 || seen[invoice(2)] != 1 || seen[invoice(3)] != 1 {
		t.Fatalf("after recovery: %d zips, files %v", len(zips), seen)
	}
	if _, ok := zips["FO.01234567890.2025031.0920.001.zip.done"]; !ok {
		t.Fatal("the zip built before the crash was not uploaded under its name")
	}
	if left, _ := filepath.Glob(filepath.Join(data, "batches", "*")); len(left) != 0 {
		t.Fatalf("local batches left: %v", left)
	}
}

func TestBatchAutoFlush(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	t.Run("timer", func(t *testing.T) {
		set := batchSettings()
		set.FlushEvery = 50 * time.Millisecond
		s := newSender(t, endpoint(t, srv, "timer", set, ""), channel.Deps{DataDir: t.TempDir()})
		if _, err := s.Send(context.Background(), delivery("m1", invoice(1), []byte("<f/>"))); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "the timed flush", func() bool { return len(regularFiles(t, srv.Path("timer"))) == 1 })
	})
	t.Run("size", func(t *testing.T) {
		set := batchSettings()
		set.MaxZipSize = 1500
		s := newSender(t, endpoint(t, srv, "size", set, ""), channel.Deps{DataDir: t.TempDir()})
		for i := 1; i <= 2; i++ {
			if _, err := s.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), make([]byte, 800))); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 5*time.Second, "the flush at max_zip_size", func() bool { return len(regularFiles(t, srv.Path("size"))) >= 1 })
	})
}

// zipFor builds a supporto as an ente would, with a quadratura declaring counts.
func zipFor(t *testing.T, name string, declared batch.Counts, files map[string]string) []byte {
	t.Helper()
	var entries []batch.Entry
	var fileNames []string
	for n := range files {
		fileNames = append(fileNames, n)
	}
	sort.Strings(fileNames)
	for _, n := range fileNames {
		entries = append(entries, batch.BytesEntry(n, []byte(files[n])))
	}
	q := &batch.Quadratura{IdentificativoNodo: "01234567890", DataOraCreazione: batchTime, NomeSupporto: name, NumeroFile: batch.CountNames(fileNames)}
	var b bytes.Buffer
	if err := batch.WriteZip(&b, q, strings.TrimSuffix(name, ".zip")+".xml", entries, batchTime); err != nil {
		t.Fatal(err)
	}
	if declared == q.NumeroFile {
		return b.Bytes()
	}
	// Rewrite the quadratura with the declared (wrong) counts.
	q.NumeroFile = declared
	quad, _ := q.Marshal()
	var out bytes.Buffer
	zw := newZipWriter(&out)
	for _, n := range fileNames {
		zw.add(t, n, files[n])
	}
	zw.add(t, strings.TrimSuffix(name, ".zip")+".xml", string(quad))
	zw.close(t)
	return out.Bytes()
}

func TestBatchQuadraturaMismatchRefused(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	const name = "FI.01234567890.2025031.1030.001.zip"
	var declared batch.Counts
	declared[batch.Fatture], declared[batch.NotificaEsitoCommittente] = 2, 1
	bad := zipFor(t, name, declared, map[string]string{invoice(1): "<f/>", "IT01234567890_00007_EC_001.xml": "<ec/>"})
	putLocal(t, srv.Path("in"), name+".done", bad)
	putLocal(t, srv.Path("in"), "FI.01234567890.2025031.1031.001.zip.done", []byte("non è uno zip"))

	rec := channeltest.NewRecorder()
	set := batchSettings()
	set.Poll, set.OutcomeDir = 20*time.Millisecond, "/esiti"
	var logs logBuffer
	r := newReceiver(t, endpoint(t, srv, "in", set, ""), channel.Deps{DataDir: t.TempDir(), Logger: logs.logger()})
	stop := runFor(t, r, rec)
	eventually(t, 10*time.Second, "both refusals", func() bool {
		rej := regularFiles(t, srv.Path("in/rejected"))
		_, a := rej[name+".done.errore.txt"]
		_, b := rej["FI.01234567890.2025031.1031.001.zip.done.errore.txt"]
		return a && b
	})
	stop()
	if n := len(rec.Items()); n != 0 {
		t.Fatalf("%d files of refused supporti were handed over", n)
	}
	esiti := regularFiles(t, srv.Path("esiti"))
	eo, err := batch.ParseEsito("EO", esiti["EO.01234567890.2025031.1030.001.xml"])
	if err != nil {
		t.Fatalf("outcome: %v (folder %v)", err, names(esiti))
	}
	if eo.Esito != batch.ET02 || eo.NomeSupporto != name {
		t.Fatalf("outcome %+v", eo)
	}
	joined := strings.Join(eo.Motivi, "\n")
	if !strings.Contains(joined, "Fatture: la quadratura ne dichiara 2, lo zip ne contiene 1") {
		t.Fatalf("outcome reasons %q", eo.Motivi)
	}
	rej := regularFiles(t, srv.Path("in/rejected"))
	if !bytes.Equal(rej[name+".done"], bad) || !strings.Contains(string(rej[name+".done.errore.txt"]), "ET02") {
		t.Fatalf("rejected folder: %v", names(rej))
	}
	if eo2, err := batch.ParseEsito("EO", esiti["EO.01234567890.2025031.1031.001.xml"]); err != nil || !strings.Contains(strings.Join(eo2.Motivi, " "), "non è un file zip") {
		t.Fatalf("outcome of the non-zip: %+v %v", eo2, err)
	}
	if len(regularFiles(t, srv.Path("in"))) != 0 || len(regularFiles(t, srv.Path("in/processati"))) != 0 {
		t.Fatal("refused supporti left in the inbox or moved to processati")
	}
}

// The hub dies after committing the files of a supporto and before acknowledging it:
// the next process hands the same files over with the same keys, and acknowledges.
func TestBatchCrashBetweenCommitAndAck(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	const name = "FI.01234567890.2025031.1030.001.zip"
	var c batch.Counts
	c[batch.Fatture], c[batch.NotificaEsitoCommittente] = 1, 1
	putLocal(t, srv.Path("in"), name+".done", zipFor(t, name, c, map[string]string{invoice(1): "<f/>", "IT01234567890_00007_EC_001.xml": "<ec/>"}))
	set := batchSettings()
	set.Poll = 20 * time.Millisecond
	ep := endpoint(t, srv, "in", set, "")
	rec := channeltest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	crashing := channel.SinkFunc(func(c context.Context, in channel.Inbound) (channel.Accepted, error) {
		a, err := rec.Accept(c, in)
		if len(rec.Items()) == 2 {
			once.Do(cancel)
			return a, errors.New("process killed after commit")
		}
		return a, err
	})
	done := make(chan struct{})
	go func() { newReceiver(t, ep, channel.Deps{DataDir: t.TempDir()}).Run(ctx, crashing); close(done) }()
	<-done
	if len(regularFiles(t, srv.Path("in/.processing"))) != 1 {
		t.Fatal("the supporto was acknowledged although the hand-over failed")
	}
	stop := runFor(t, newReceiver(t, ep, channel.Deps{DataDir: t.TempDir()}), rec)
	eventually(t, 10*time.Second, "the acknowledgement", func() bool { return len(regularFiles(t, srv.Path("in/processati"))) == 1 })
	stop()
	if n, d := len(rec.Items()), rec.Duplicates(); n != 2 || d != 2 {
		t.Fatalf("%d distinct items and %d duplicates, want 2 and 2", n, d)
	}
	if _, err := batch.ParseEsito("EO", regularFiles(t, srv.Path("in"))["EO.01234567890.2025031.1030.001.xml"]); err != nil {
		t.Fatalf("outcome: %v", err)
	}
}

type zipWriter struct{ zw *zip.Writer }

func newZipWriter(w io.Writer) *zipWriter { return &zipWriter{zw: zip.NewWriter(w)} }

func (z *zipWriter) add(t *testing.T, name, content string) {
	w, err := z.zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
}

func (z *zipWriter) close(t *testing.T) {
	if err := z.zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// resolverRecorder is the hub's side of batch deliveries: it records completed waits and
// refuses the first attempt of each key, as the hub does when the upload beats the
// job's commit.
type resolverRecorder struct {
	mu     sync.Mutex
	asked  map[string]int
	done   []string
	failed bool
}

func (r *resolverRecorder) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.asked == nil {
		r.asked = map[string]int{}
	}
	r.asked[key]++
	if r.asked[key] == 1 {
		return errors.New("no job awaits the key: not found")
	}
	if !ok || !strings.Contains(detail, ".zip.done") {
		r.failed = true
	}
	r.done = append(r.done, key)
	return nil
}

// TestBatchDeliveriesCompleteAtUpload: with a resolver, a staged delivery is not done
// when Send returns (it awaits), and is reported done once its supporto is uploaded; a
// report the hub cannot take yet is made again at the next round.
func TestBatchDeliveriesCompleteAtUpload(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	res := &resolverRecorder{}
	set := batchSettings()
	set.FlushEvery = 30 * time.Millisecond
	srv.Stop() // the ente's server is down at first: staged deliveries wait
	s := newSender(t, endpoint(t, srv, "out", set, ""), channel.Deps{DataDir: t.TempDir(), Now: func() time.Time { return batchTime }, Resolver: res})
	var keys []string
	for i := 1; i <= 2; i++ {
		r, err := s.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), []byte("<f/>"), mt(invoice(i))))
		if err != nil {
			t.Fatal(err)
		}
		if r.Await == nil || r.Await.Key == "" || r.Await.Timeout != 24*time.Hour {
			t.Fatalf("a staged delivery does not await its upload: %+v", r)
		}
		keys = append(keys, r.Await.Key)
	}
	time.Sleep(150 * time.Millisecond)
	res.mu.Lock()
	if len(res.done) != 0 {
		res.mu.Unlock()
		t.Fatal("deliveries reported done while the server was down")
	}
	res.mu.Unlock()
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res.mu.Lock()
		n := len(res.done)
		res.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries reported done: %d of 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	slices.Sort(keys)
	got := slices.Clone(res.done)
	slices.Sort(got)
	if !slices.Equal(got, keys) || res.failed {
		t.Fatalf("reported %v (failed %v), want %v", got, res.failed, keys)
	}
	if n := len(remoteZips(t, srv.Path("out"))); n == 0 {
		t.Fatal("nothing uploaded")
	}
}

// TestBatchNamesUniqueAcrossProcesses: two hub processes writing supporti to one folder
// in the same minute number them from the store's shared counter, so neither
// overwrites the other.
func TestBatchNamesUniqueAcrossProcesses(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	st := storetest.OpenSQLite(t, store.Options{})
	clock := func() time.Time { return batchTime }
	var senders []channel.Sender
	for p := 0; p < 2; p++ {
		senders = append(senders, newSender(t, endpoint(t, srv, "out", batchSettings(), ""),
			channel.Deps{DataDir: t.TempDir(), Now: clock, Counter: st.NextCounter}))
	}
	for i, s := range senders {
		if _, err := s.Send(context.Background(), delivery(fmt.Sprint("p", i), invoice(i+1), []byte("<f/>"), mt(invoice(i+1)))); err != nil {
			t.Fatal(err)
		}
		if err := flush(t, s); err != nil {
			t.Fatal(err)
		}
	}
	zips := remoteZips(t, srv.Path("out"))
	if len(zips) != 2 {
		t.Fatalf("%d supporti on the server, want 2 (one per process): %v", len(zips), zips)
	}
	for _, want := range []string{"FO.01234567890.2025031.0920.001.zip.done", "FO.01234567890.2025031.0920.002.zip.done"} {
		if _, ok := zips[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
}
