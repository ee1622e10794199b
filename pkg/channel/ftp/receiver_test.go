package ftp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/ftptest"
)

// slowUpload uploads data to path in chunks with pauses, as a slow peer would, and
// returns when done.
func slowUpload(t *testing.T, srv *ftptest.Server, p string, data []byte, chunks int, pause time.Duration) {
	c, err := jftp.Dial(srv.Addr, jftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Quit()
	if err := c.Login(srv.User, srv.Password); err != nil {
		t.Error(err)
		return
	}
	pr, pw := io.Pipe()
	go func() {
		step := len(data) / chunks
		for i := 0; i < chunks; i++ {
			end := (i + 1) * step
			if i == chunks-1 {
				end = len(data)
			}
			pw.Write(data[i*step : end])
			time.Sleep(pause)
		}
		pw.Close()
	}()
	if err := c.Stor(p, pr); err != nil {
		t.Error(err)
	}
}

func TestReceiverSkipsFileStillBeingWritten(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	os.MkdirAll(srv.Path("in"), 0o755)
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 25 * time.Millisecond, StableFor: 1500 * time.Millisecond}, ""), channel.Deps{})
	stop := runFor(t, r, rec)
	defer stop()
	data := bytes.Repeat([]byte("<riga/>\n"), 40000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 10 chunks, 100ms apart: the size changes well within the 1.5s window.
		slowUpload(t, srv, "/in/lento.xml", data, 10, 100*time.Millisecond)
	}()
	<-done
	if n := len(rec.Items()); n != 0 {
		t.Fatalf("the file was taken while it was being written (%d items)", n)
	}
	items := rec.WaitFor(t, 1, 10*time.Second)
	if !bytes.Equal(items[0].Data, data) {
		t.Fatalf("took %d bytes, want %d", len(items[0].Data), len(data))
	}
}

func TestReceiverDoneMarker(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableDone}, ""), channel.Deps{})
	putLocal(t, srv.Path("in"), "a.xml", []byte("<a/>"))
	stop := runFor(t, r, rec)
	defer stop()
	time.Sleep(200 * time.Millisecond)
	if n := len(rec.Items()); n != 0 {
		t.Fatalf("took a file without its .done marker (%d items)", n)
	}
	putLocal(t, srv.Path("in"), "a.xml.done", nil)
	items := rec.WaitFor(t, 1, 5*time.Second)
	if items[0].FileName != "a.xml" || string(items[0].Data) != "<a/>" {
		t.Fatalf("got %s %q", items[0].FileName, items[0].Data)
	}
	eventually(t, 5*time.Second, "the marker to go", func() bool { return len(regularFiles(t, srv.Path("in"))) == 0 })
}

func TestReceiverHostileNames(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	var logs logBuffer
	data := t.TempDir()
	hostile := []string{"../evil.xml", "../../etc/cron.d/x", "a/b.xml", "/etc/passwd", `..\win.xml`, "x\x01y.xml",
		"esc\x1b[2J.xml", strings.Repeat("L", 250) + ".xml", "fattura\u202egpj.exe", "bad\xff.xml", "nel\u0085.xml"}
	srv.ListExtra("in", hostile...)
	putLocal(t, srv.Path("in"), "buono.xml", []byte("<ok/>"))
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone}, ""),
		channel.Deps{Logger: logs.logger(), DataDir: data})
	stop := runFor(t, r, rec)
	rec.WaitFor(t, 1, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // more listings: each name is still warned once
	stop()
	if items := rec.Items(); len(items) != 1 || items[0].FileName != "buono.xml" {
		t.Fatalf("items %v", items)
	}
	out := logs.String()
	if c := strings.Count(out, "nome non accettabile"); c != len(hostile) {
		t.Fatalf("%d warnings for %d hostile names (want one each):\n%s", c, len(hostile), out)
	}
	for _, want := range []string{"separatore", "controllo", "oltre il limite", "UTF-8", "invisibili"} {
		if !strings.Contains(out, want) {
			t.Errorf("no warning says %q:\n%s", want, out)
		}
	}
	// Nothing was written anywhere but the endpoint's folders: the server root holds
	// only in/, and the local data folder is empty.
	root, _ := os.ReadDir(srv.Root)
	if len(root) != 1 || root[0].Name() != "in" {
		t.Fatalf("server root holds %v", root)
	}
	var local []string
	filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if p != data {
			local = append(local, p)
		}
		return nil
	})
	if len(local) != 0 {
		t.Fatalf("local files written: %v", local)
	}
}

func TestCheckRemoteName(t *testing.T) {
	for _, ok := range []string{"IT01234567890_00001.xml", "fattura con spazi.xml", "àèìòù.xml", "a.b.c", "-x"} {
		if err := ftp.CheckRemoteName(ok); err != nil {
			t.Errorf("CheckRemoteName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../a", "a/b", `a\b`, "/a", "a\x00", "a\r", "a\n", "a\x7f",
		strings.Repeat("a", 241), "\xc3", "a\u0085", "a\u202e", "a\u2066", "\ufeffa", "a\u200f"} {
		if err := ftp.CheckRemoteName(bad); err == nil {
			t.Errorf("CheckRemoteName(%q) = nil", bad)
		}
	}
}

func TestReceiverRefusesOversize(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone, MaxSize: 1000}, ""), channel.Deps{})
	putLocal(t, srv.Path("in"), "grande.xml", make([]byte, 2000))
	putLocal(t, srv.Path("in"), "piccolo.xml", []byte("<p/>"))
	stop := runFor(t, r, rec)
	rec.WaitFor(t, 1, 5*time.Second)
	eventually(t, 5*time.Second, "the large file to be refused", func() bool {
		_, ok := regularFiles(t, srv.Path("in/rejected"))["grande.xml.errore.txt"]
		return ok
	})
	stop()
	if items := rec.Items(); len(items) != 1 || items[0].FileName != "piccolo.xml" {
		t.Fatalf("items %v", items)
	}
	rej := regularFiles(t, srv.Path("in/rejected"))
	if len(rej["grande.xml"]) != 2000 || !strings.Contains(string(rej["grande.xml.errore.txt"]), "oltre il limite di 1000") {
		t.Fatalf("rejected folder: %v %q", names(rej), rej["grande.xml.errore.txt"])
	}
	if got := names(regularFiles(t, srv.Path("in"))); len(got) != 0 {
		t.Fatalf("inbox still holds %v", got)
	}
}

func TestReceiverAfterDeleteAndProcessedFolder(t *testing.T) {
	for _, after := range []string{"move", "delete"} {
		t.Run(after, func(t *testing.T) {
			srv := ftptest.Start(t, ftptest.Options{})
			rec := channeltest.NewRecorder()
			day := time.Date(2025, 3, 7, 10, 0, 0, 0, time.UTC)
			r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone, After: after, Processed: "/archivio"}, ""),
				channel.Deps{Now: func() time.Time { return day }})
			putLocal(t, srv.Path("in"), "a.xml", []byte("<a/>"))
			stop := runFor(t, r, rec)
			items := rec.WaitFor(t, 1, 5*time.Second)
			eventually(t, 5*time.Second, "the ack", func() bool { return len(regularFiles(t, srv.Path("in/.processing"))) == 0 })
			stop()
			if items[0].Source != "ftp://"+srv.Addr+"/in/a.xml" || items[0].Headers["SourcePath"] != "in/a.xml" {
				t.Errorf("Source %q, headers %v", items[0].Source, items[0].Headers)
			}
			archived := regularFiles(t, srv.Path("archivio/2025-03-07"))
			if after == "move" && string(archived["a.xml"]) != "<a/>" || after == "delete" && len(archived) != 0 {
				t.Fatalf("after %s: archive holds %v", after, names(archived))
			}
		})
	}
}

func TestReceiverReconnects(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	rec := channeltest.NewRecorder()
	var logs logBuffer
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone, ConnectTimeout: time.Second}, ""),
		channel.Deps{Logger: logs.logger()})
	putLocal(t, srv.Path("in"), "1.xml", []byte("1"))
	stop := runFor(t, r, rec)
	defer stop()
	rec.WaitFor(t, 1, 5*time.Second)
	srv.Stop()
	putLocal(t, srv.Path("in"), "2.xml", []byte("2"))
	time.Sleep(150 * time.Millisecond)
	if n := len(rec.Items()); n != 1 {
		t.Fatalf("%d items while the server was down", n)
	}
	srv.Restart()
	rec.WaitFor(t, 2, 5*time.Second)
	srv.DropConnections()
	putLocal(t, srv.Path("in"), "3.xml", []byte("3"))
	rec.WaitFor(t, 3, 5*time.Second)
	if !strings.Contains(logs.String(), "riprovo") {
		t.Errorf("the outage was not logged:\n%s", logs.String())
	}
}

// A file whose hand-over failed stays claimed; a new file of the same name arriving
// meanwhile waits instead of replacing it, and both arrive.
func TestReceiverSameNameWhileClaimed(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	rec := channeltest.NewRecorder()
	var mu sync.Mutex
	failing := true
	rec.Fail = func(channel.Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("store down")
		}
		return nil
	}
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone}, ""), channel.Deps{})
	putLocal(t, srv.Path("in"), "pendenze.csv", []byte("prima"))
	stop := runFor(t, r, rec)
	defer stop()
	eventually(t, 5*time.Second, "the claim", func() bool { return len(regularFiles(t, srv.Path("in/.processing"))) == 1 })
	putLocal(t, srv.Path("in"), "pendenze.csv", []byte("seconda"))
	time.Sleep(150 * time.Millisecond)
	if got := regularFiles(t, srv.Path("in/.processing")); string(got["pendenze.csv"]) != "prima" {
		t.Fatalf("the claimed file was replaced: %q", got["pendenze.csv"])
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	items := rec.WaitFor(t, 2, 5*time.Second)
	var contents []string
	for _, in := range items {
		contents = append(contents, string(in.Data))
	}
	if !slices.Equal(contents, []string{"prima", "seconda"}) {
		t.Fatalf("contents %v", contents)
	}
}

func TestReceiverDedupKeyStable(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	var mu sync.Mutex
	var keys []string
	sink := channel.SinkFunc(func(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
		mu.Lock()
		keys = append(keys, in.DedupKey)
		mu.Unlock()
		return channel.Accepted{}, errors.New("refused")
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(keys)
	}
	ep := endpoint(t, srv, "in", &ftp.Settings{Poll: time.Hour, Stable: ftp.StableNone}, "")
	putLocal(t, srv.Path("in"), "a.xml", []byte("<a/>"))
	for run := 1; run <= 2; run++ {
		stop := runFor(t, newReceiver(t, ep, channel.Deps{}), sink)
		eventually(t, 10*time.Second, "the hand-over", func() bool { return count() >= run })
		stop()
	}
	if len(keys) != 2 || keys[0] != keys[1] || !strings.Contains(keys[0], "a.xml") {
		t.Fatalf("keys across restarts: %q", keys)
	}
}

// A processing folder the server cannot use (here a file stands where the folder
// should be): the file stays in the inbox and the refusal is logged once, not hidden.
func TestReceiverClaimRefusedIsLogged(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	putLocal(t, srv.Path("in"), "a.xml", []byte("<a/>"))
	putLocal(t, srv.Root, "blocco", nil)
	var logs logBuffer
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone, Processing: "/blocco/lavorazione"}, ""),
		channel.Deps{Logger: logs.logger()})
	stop := runFor(t, r, rec)
	eventually(t, 10*time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "presa in carico non riuscita") })
	time.Sleep(200 * time.Millisecond) // more listings: still one warning
	stop()
	if n := len(rec.Items()); n != 0 {
		t.Fatalf("%d items", n)
	}
	if c := strings.Count(logs.String(), "presa in carico non riuscita"); c != 1 {
		t.Fatalf("%d claim warnings, want 1:\n%s", c, logs.String())
	}
	if _, ok := regularFiles(t, srv.Path("in"))["a.xml"]; !ok {
		t.Fatal("the file left the inbox")
	}
}

// A file that grows past max_size between the listing and the download is cut off
// while downloading and then refused, after a reconnection.
func TestReceiverRefusesFileGrownPastLimit(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	putLocal(t, srv.Path("in"), "cresce.xml", make([]byte, 500))
	srv.OnRetrieve(func(p string) {
		if strings.HasSuffix(p, "cresce.xml") {
			os.WriteFile(srv.Path(p), make([]byte, 1<<20), 0o644)
		}
	})
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone, MaxSize: 1000}, ""), channel.Deps{})
	stop := runFor(t, r, rec)
	eventually(t, 5*time.Second, "the refusal", func() bool {
		_, ok := regularFiles(t, srv.Path("in/rejected"))["cresce.xml.errore.txt"]
		return ok
	})
	stop()
	if n := len(rec.Items()); n != 0 {
		t.Fatalf("%d items", n)
	}
	if got := regularFiles(t, srv.Path("in/.processing")); len(got) != 0 {
		t.Fatalf("processing folder holds %v", names(got))
	}
}

// A file claimed by another hub process that died with it (it sits in the processing
// folder, unacknowledged) is taken over by a running receiver once it is older than
// stale_claim; a fresh claim is left alone for that long.
func TestReceiverTakesOverStaleClaims(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	rec := channeltest.NewRecorder()
	r := newReceiver(t, endpoint(t, srv, "in", &ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone,
		StaleClaim: 600 * time.Millisecond}, ""), channel.Deps{})
	putLocal(t, srv.Path("in"), "primo.xml", []byte("<primo/>"))
	stop := runFor(t, r, rec)
	defer stop()
	rec.WaitFor(t, 1, 5*time.Second) // the receiver is running and past its start-up drain
	putLocal(t, srv.Path("in/.processing"), "orfano.xml", []byte("<orfano/>"))
	time.Sleep(200 * time.Millisecond)
	if n := len(rec.Items()); n != 1 {
		t.Fatalf("a fresh claim was taken before stale_claim: %d items", n)
	}
	items := rec.WaitFor(t, 2, 5*time.Second)
	if items[1].FileName != "orfano.xml" || string(items[1].Data) != "<orfano/>" {
		t.Fatalf("taken over %q %q", items[1].FileName, items[1].Data)
	}
	eventually(t, 5*time.Second, "the ack", func() bool { return len(regularFiles(t, srv.Path("in/.processing"))) == 0 })
}
