package fs_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/fs"
)

func endpoint(t *testing.T, dir string, set *fs.Settings) *channel.Endpoint {
	u := &url.URL{Scheme: "file", Path: dir}
	ep := &channel.Endpoint{Name: "test/" + filepath.Base(dir), Kind: "fs", URL: u, Settings: set}
	if err := set.Check(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func TestConformance(t *testing.T) {
	out := t.TempDir()
	in := t.TempDir()
	k := fs.Kind()
	channeltest.Run(t, channeltest.Harness{
		NewSender: func(t *testing.T) channel.Sender {
			s, err := k.NewSender(endpoint(t, out, &fs.Settings{}), channel.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Target: func(t *testing.T) map[string][]byte {
			got := map[string][]byte{}
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				if e.Type().IsRegular() {
					got[e.Name()], _ = os.ReadFile(filepath.Join(out, e.Name()))
				}
			}
			return got
		},
		NewReceiver: func(t *testing.T) channel.Receiver {
			r, err := k.NewReceiver(endpoint(t, in, &fs.Settings{Poll: 20 * time.Millisecond, MinAge: -1}), channel.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		Put: func(t *testing.T, name string, data []byte) {
			if err := os.WriteFile(filepath.Join(in, name), data, 0o640); err != nil {
				t.Fatal(err)
			}
		},
		Pending: func(t *testing.T) []string {
			var names []string
			for _, d := range []string{in, filepath.Join(in, ".processing")} {
				entries, _ := os.ReadDir(d)
				for _, e := range entries {
					if e.Type().IsRegular() {
						names = append(names, e.Name())
					}
				}
			}
			sort.Strings(names)
			return names
		},
	})
}

func TestReceiverSkipsFilesStillBeingWritten(t *testing.T) {
	in := t.TempDir()
	r, _ := fs.Kind().NewReceiver(endpoint(t, in, &fs.Settings{Poll: 10 * time.Millisecond, MinAge: 2 * time.Second}), channel.Deps{})
	rec := channeltest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx, rec)
	path := filepath.Join(in, "growing.xml")
	f, _ := os.Create(path)
	// Keep writing for a while: the file must not be taken while its size changes.
	for i := 0; i < 10; i++ {
		f.WriteString("<chunk/>")
		f.Sync()
		time.Sleep(50 * time.Millisecond)
		if len(rec.Items()) > 0 {
			t.Fatalf("a file still being written was picked up after %d chunks", i+1)
		}
	}
	f.Close()
	items := rec.WaitFor(t, 1, 5*time.Second)
	if got := strings.Count(string(items[0].Data), "<chunk/>"); got != 10 {
		t.Fatalf("picked up %d chunks of 10", got)
	}
}

func TestReceiverRejectsOversizeWithReason(t *testing.T) {
	in := t.TempDir()
	r, _ := fs.Kind().NewReceiver(endpoint(t, in, &fs.Settings{Poll: 10 * time.Millisecond, MinAge: -1, MaxSize: 100}), channel.Deps{})
	rec := channeltest.NewRecorder()
	os.WriteFile(filepath.Join(in, "big.xml"), make([]byte, 101), 0o640)
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx, rec)
	deadline := time.Now().Add(5 * time.Second)
	var reason []byte
	for time.Now().Before(deadline) {
		matches, _ := filepath.Glob(filepath.Join(in, "rejected", "big.xml.*.errore.txt"))
		if len(matches) == 1 {
			reason, _ = os.ReadFile(matches[0])
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if !strings.Contains(string(reason), "oltre il limite") {
		t.Fatalf("no rejection reason written (got %q)", reason)
	}
	if len(rec.Items()) != 0 {
		t.Fatal("an oversize file reached the store")
	}
}

func TestSettingsCheck(t *testing.T) {
	for _, c := range []struct {
		url string
		set fs.Settings
		err string
	}{
		{"file://host/x", fs.Settings{}, "host"},
		{"file:relative", fs.Settings{}, "assoluto"},
		{"file:///x", fs.Settings{Pattern: "["}, "pattern"},
		{"file:///x", fs.Settings{After: "copy"}, "after"},
		{"file:///x", fs.Settings{Mode: "rw"}, "mode"},
	} {
		u, _ := url.Parse(c.url)
		err := c.set.Check(&channel.Endpoint{URL: u})
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Check(%s, %+v) = %v, want an error about %s", c.url, c.set, err, c.err)
		}
	}
}
