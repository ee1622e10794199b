package ftp_test

// Interoperability with a real FTP server from Debian (pyftpdlib, started by
// scripts/ftpd-start.sh). The tests run when SNODO_FTP_INTEROP names the server
// (host:port) and FAIL when it is set but the server cannot be reached; without it
// they are skipped (local runs). Environment:
//
//	SNODO_FTP_INTEROP           127.0.0.1:2121
//	SNODO_FTP_INTEROP_USER      hub (default)
//	SNODO_FTP_INTEROP_PASSWORD  secret (default)
//	SNODO_FTP_INTEROP_CA        the server's certificate (for explicit FTPS)

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/batch"
)

type interopServer struct {
	addr, user, password, ca string
}

func interop(t *testing.T) interopServer {
	t.Helper()
	s := interopServer{addr: os.Getenv("SNODO_FTP_INTEROP"), user: os.Getenv("SNODO_FTP_INTEROP_USER"),
		password: os.Getenv("SNODO_FTP_INTEROP_PASSWORD"), ca: os.Getenv("SNODO_FTP_INTEROP_CA")}
	if s.addr == "" {
		t.Skip("SNODO_FTP_INTEROP non impostata: test di interoperabilità saltato (start pyftpdlib with scripts/ftpd-start.sh)")
	}
	if s.user == "" {
		s.user, s.password = "hub", "secret"
	}
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("SNODO_FTP_INTEROP=%s: server FTP non raggiungibile: %v (start it with scripts/ftpd-start.sh; Debian packages python3-pyftpdlib python3-openssl)", s.addr, err)
	}
	c.Close()
	return s
}

// admin is a plain jlaffaye connection used to inspect and seed the server's folders.
func (s interopServer) admin(t *testing.T) *jftp.ServerConn {
	t.Helper()
	c, err := jftp.Dial(s.addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(s.user, s.password); err != nil {
		t.Fatalf("login to the interop server as %s: %v", s.user, err)
	}
	t.Cleanup(func() { c.Quit() })
	return c
}

func (s interopServer) endpoint(t *testing.T, scheme, dir string, set *ftp.Settings) *channel.Endpoint {
	t.Helper()
	ep := &channel.Endpoint{Name: "interop/" + dir, Kind: "ftp", URL: &url.URL{Scheme: scheme, Host: s.addr, Path: "/" + dir},
		Settings: set, Username: s.user, Password: s.password}
	if scheme == "ftps" {
		if s.ca == "" {
			t.Fatal("SNODO_FTP_INTEROP_CA non impostata: serve il certificato del server per FTPS (the server certificate is needed for FTPS)")
		}
		ep.TLS.CAFile = s.ca
	}
	if err := set.Check(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

// files lists the regular files of a remote folder with their content.
func files(t *testing.T, c *jftp.ServerConn, dir string) map[string][]byte {
	t.Helper()
	entries, err := c.List(dir)
	if err != nil {
		return map[string][]byte{}
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Type != jftp.EntryTypeFile {
			continue
		}
		r, err := c.Retr(dir + "/" + e.Name)
		if err != nil {
			continue // renamed meanwhile
		}
		data, _ := io.ReadAll(r)
		r.Close()
		out[e.Name] = data
	}
	return out
}

func upload(t *testing.T, c *jftp.ServerConn, dir, name string, data []byte) {
	t.Helper()
	c.MakeDir(dir)
	if err := c.Stor(dir+"/.put-"+name, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(dir+"/.put-"+name, dir+"/"+name); err != nil {
		t.Fatal(err)
	}
}

func TestInteropConformance(t *testing.T) {
	s := interop(t)
	for _, scheme := range []string{"ftp", "ftps"} {
		t.Run(scheme, func(t *testing.T) {
			admin := s.admin(t)
			base := fmt.Sprintf("snodo-interop-%s-%d", scheme, time.Now().UnixNano())
			if err := admin.MakeDir(base); err != nil {
				t.Fatal(err)
			}
			channeltest.Run(t, channeltest.Harness{
				NewSender: func(t *testing.T) channel.Sender {
					return newSender(t, s.endpoint(t, scheme, base+"/out", &ftp.Settings{}), channel.Deps{})
				},
				Target: func(t *testing.T) map[string][]byte { return files(t, admin, base+"/out") },
				NewReceiver: func(t *testing.T) channel.Receiver {
					return newReceiver(t, s.endpoint(t, scheme, base+"/in", &ftp.Settings{Poll: 50 * time.Millisecond, StableFor: 100 * time.Millisecond}), channel.Deps{})
				},
				Put: func(t *testing.T, name string, data []byte) { upload(t, admin, base+"/in", name, data) },
				Pending: func(t *testing.T) []string {
					var out []string
					for _, d := range []string{base + "/in", base + "/in/.processing"} {
						out = append(out, names(files(t, admin, d))...)
					}
					sort.Strings(out)
					return out
				},
			})
		})
	}
}

func TestInteropBatchRoundTrip(t *testing.T) {
	s := interop(t)
	admin := s.admin(t)
	base := fmt.Sprintf("snodo-interop-batch-%d", time.Now().UnixNano())
	admin.MakeDir(base)
	set := batchSettings()
	snd := newSender(t, s.endpoint(t, "ftps", base+"/out", set), channel.Deps{DataDir: t.TempDir()})
	for i := 1; i <= 2; i++ {
		if _, err := snd.Send(context.Background(), delivery(fmt.Sprint("m", i), invoice(i), []byte("<f/>"), mt(invoice(i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(t, snd); err != nil {
		t.Fatal(err)
	}
	out := files(t, admin, base+"/out")
	if len(out) != 1 {
		t.Fatalf("outbound folder holds %v", names(out))
	}
	var zipName string
	var zipData []byte
	for n, d := range out {
		zipName, zipData = n, d
	}
	if !strings.HasPrefix(zipName, "FO.01234567890.") || !strings.HasSuffix(zipName, ".001.zip.done") {
		t.Fatalf("supporto name %s", zipName)
	}
	upload(t, admin, base+"/in", zipName, zipData)
	rset := batchSettings()
	rset.Poll = 50 * time.Millisecond
	rec := channeltest.NewRecorder()
	stop := runFor(t, newReceiver(t, s.endpoint(t, "ftp", base+"/in", rset), channel.Deps{DataDir: t.TempDir()}), rec)
	rec.WaitFor(t, 4, 20*time.Second)
	eventually(t, 10*time.Second, "the acknowledgement", func() bool { return len(files(t, admin, base+"/in/processati")) == 1 })
	stop()
	eo, err := batch.ParseEsito("EO", files(t, admin, base+"/in")[batch.EsitoName(zipName)])
	if err != nil || eo.Esito != batch.ET01 {
		t.Fatalf("outcome %+v: %v", eo, err)
	}
}
