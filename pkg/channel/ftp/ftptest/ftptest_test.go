package ftptest

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"snodo/pkg/testpki"
)

func dial(t *testing.T, s *Server, cfg *tls.Config) *ftp.ServerConn {
	t.Helper()
	opts := []ftp.DialOption{ftp.DialWithTimeout(5 * time.Second)}
	if cfg != nil {
		opts = append(opts, ftp.DialWithExplicitTLS(cfg))
	}
	c, err := ftp.Dial(s.Addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(s.User, s.Password); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

func roundTrip(t *testing.T, c *ftp.ServerConn, s *Server) {
	data := bytes.Repeat([]byte("snodo"), 1000)
	if err := c.MakeDir("/in"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("/in/x.tmp", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/in/x.tmp", "/in/x.xml"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.Path("/in/x.xml"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server holds %d bytes, %v", len(got), err)
	}
	r, err := c.Retr("/in/x.xml")
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(back, data) {
		t.Fatal("download differs")
	}
}

func TestPlainAndExplicitTLS(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		s := Start(t, Options{})
		roundTrip(t, dial(t, s, nil), s)
		if s.URL("in").String() != "ftp://"+s.Addr+"/in" {
			t.Fatalf("URL %s", s.URL("in"))
		}
	})
	t.Run("tls", func(t *testing.T) {
		ca := testpki.MustCA("ftptest CA")
		srv, err := ca.Server("127.0.0.1", testpki.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := Start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS()}}})
		roundTrip(t, dial(t, s, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}), s)
		if s.URL("/in").Scheme != "ftps" {
			t.Fatal("TLS server URL is not ftps")
		}
		// A client that does not trust the CA is refused at the handshake.
		c, err := ftp.Dial(s.Addr, ftp.DialWithExplicitTLS(&tls.Config{ServerName: "127.0.0.1"}), ftp.DialWithTimeout(5*time.Second))
		if err == nil {
			err = c.Login(s.User, s.Password)
			c.Quit()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("untrusted server certificate: %v, want a certificate error", err)
		}
	})
}

func TestStopRestartDrop(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s, nil)
	s.Stop()
	if err := c.NoOp(); err == nil {
		t.Fatal("session survived Stop")
	}
	if _, err := ftp.Dial(s.Addr, ftp.DialWithTimeout(time.Second)); err == nil {
		t.Fatal("dial succeeded while the server is down")
	}
	s.Restart()
	c2 := dial(t, s, nil)
	if err := c2.NoOp(); err != nil {
		t.Fatal(err)
	}
	// At least the live session; one closed by Stop may not be forgotten yet.
	if n := s.DropConnections(); n < 1 {
		t.Fatalf("dropped %d sessions, want at least 1", n)
	}
	if err := c2.NoOp(); err == nil {
		t.Fatal("session survived DropConnections")
	}
	if s.Logins() != 2 {
		t.Fatalf("logins %d", s.Logins())
	}
}

func TestFailUploadAndListExtra(t *testing.T) {
	s := Start(t, Options{NoRenameOverwrite: true})
	c := dial(t, s, nil)
	s.FailUpload(func(p string) bool { return strings.HasSuffix(p, ".tmp") }, 1000)
	err := c.Stor("/big.tmp", bytes.NewReader(make([]byte, 1<<20)))
	if err == nil {
		t.Fatal("upload survived a dropped connection")
	}
	if fi, err := os.Stat(s.Path("/big.tmp")); err != nil || fi.Size() >= 1<<20 {
		t.Fatalf("partial file: %v %v", fi, err)
	}

	c = dial(t, s, nil)
	if err := c.Stor("/a", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("/b", strings.NewReader("b")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/a", "/b"); err == nil {
		t.Fatal("rename over an existing file succeeded with NoRenameOverwrite")
	}

	s.ListExtra("/", "../evil.xml", "x\x01y.xml")
	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	for _, want := range []string{"a", "b", "../evil.xml", "x\x01y.xml"} {
		if !slices.Contains(names, want) {
			t.Fatalf("listing %q lacks %q", names, want)
		}
	}
}
