package ftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"snodo/pkg/channel"
)

// sender uploads each delivery into one remote folder.
type sender struct {
	ep       *channel.Endpoint
	set      *Settings
	dir      string
	where    string // the folder as a URL, for messages
	pool     *pool
	log      *slog.Logger
	dirReady atomic.Bool
}

func newPlainSender(ep *channel.Endpoint, set *Settings, deps channel.Deps) (*sender, error) {
	d, err := newDialer(ep, set)
	if err != nil {
		return nil, err
	}
	dir := join(baseDir(ep.URL.Path), set.Dir)
	return &sender{ep: ep, set: set, dir: dir, where: where(ep, dir),
		pool: newPool(d, set.maxConns(), set.idleTimeout()),
		log:  deps.Log().With("endpoint", ep.Name)}, nil
}

// where renders a remote folder as a URL for messages (never with credentials).
func where(ep *channel.Endpoint, dir string) string {
	p := dir
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	} else {
		p = "/%2F" + strings.TrimPrefix(p, "/")
	}
	return ep.URL.Scheme + "://" + ep.URL.Host + p
}

func (s *sender) Close() error {
	s.pool.shutdown()
	return nil
}

// upload is one file to write.
type upload struct {
	name string
	data []byte
}

// plan orders the files of a delivery for writing: companions first, the main file
// last, so a reader triggered by the main file finds its companions already there. It
// refuses names that are not plain file names, as permanent errors.
func plan(d *channel.Delivery, roles []string) ([]upload, error) {
	if len(d.Files) == 0 {
		return nil, channel.Permanent(fmt.Errorf("ftp: consegna %s senza file (delivery without files)", d.MessageID))
	}
	wanted := func(role string) bool { return len(roles) == 0 || slices.Contains(roles, role) }
	var out []upload
	seen := map[string]bool{}
	addFile := func(i int) error {
		f := &d.Files[i]
		name := f.Name
		if i == 0 && d.FileName != "" {
			name = d.FileName
		}
		if err := channel.SafeFileName(name); err != nil {
			return channel.Permanent(fmt.Errorf("ftp: file %d della consegna %s: %w", i+1, d.MessageID, err))
		}
		if seen[name] {
			return channel.Permanent(fmt.Errorf("ftp: consegna %s: due file di nome %s (two files with the same name)", d.MessageID, name))
		}
		seen[name] = true
		out = append(out, upload{name: name, data: f.Data})
		return nil
	}
	// Check the main file's name even when its role is not written.
	if err := channel.SafeFileName(or(d.FileName, d.Files[0].Name)); err != nil {
		return nil, channel.Permanent(fmt.Errorf("ftp: consegna %s: %w", d.MessageID, err))
	}
	for i := 1; i < len(d.Files); i++ {
		if wanted(d.Files[i].Role) {
			if err := addFile(i); err != nil {
				return nil, err
			}
		}
	}
	if wanted(d.Files[0].Role) {
		if err := addFile(0); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, channel.Permanent(fmt.Errorf("ftp: consegna %s: nessun file con i ruoli %v (no file with the configured roles)", d.MessageID, roles))
	}
	return out, nil
}

// Send writes the delivery's files, each under a temporary name then renamed.
func (s *sender) Send(ctx context.Context, d *channel.Delivery) (channel.Result, error) {
	files, err := plan(d, s.set.roles())
	if err != nil {
		return channel.Result{}, err
	}
	err = s.pool.do(ctx, func(c *conn) error {
		if s.set.createDirs() && !s.dirReady.Load() {
			if err := mkdirAll(c.c, s.dir); err != nil && !isReply(err) {
				return err
			}
			s.dirReady.Store(true)
		}
		for _, f := range files {
			if err := s.put(c, f.name, f.data); err != nil {
				return err
			}
		}
		if s.set.DoneMarker {
			return s.put(c, files[len(files)-1].name+".done", nil)
		}
		return nil
	})
	if err != nil {
		return channel.Result{}, fmt.Errorf("ftp: consegna di %s in %s: %w", or(d.FileName, d.Files[0].Name), s.where, err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	s.log.Info("file consegnati via FTP", "message", d.MessageID, "ente", d.Ente, "dir", s.where, "files", names)
	return channel.Result{Detail: fmt.Sprintf("scritto in %s: %s", s.where, strings.Join(names, ", "))}, nil
}

// put writes data to name atomically: upload to a temporary name, rename to the final
// one. A server that refuses to rename over an existing file (IIS) gets the old file
// deleted first.
func (s *sender) put(c *conn, name string, data []byte) error {
	return putAtomic(c, s.dir, name, bytes.NewReader(data), s.set.tempSuffix(), s.set.createDirs())
}

// putAtomic uploads src (from its start) to dir/name under a temporary name, then
// renames it.
func putAtomic(c *conn, dir, name string, src io.ReadSeeker, suffix, createDirs bool) error {
	final := file(dir, name)
	tmp := file(dir, tempName(name, suffix))
	stor := func() error {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return c.c.Stor(tmp, src)
	}
	err := stor()
	if err != nil && createDirs && isNotFound(err) {
		// The folder went missing (an operator at the ente removed it): create it again.
		if mkdirAll(c.c, dir) == nil {
			err = stor()
		}
	}
	if err != nil {
		if isReply(err) {
			c.c.Delete(tmp)
		}
		return fmt.Errorf("upload di %s: %w", tmp, err)
	}
	if err = c.c.Rename(tmp, final); err == nil {
		return nil
	}
	if isReply(err) {
		if derr := c.c.Delete(final); derr == nil {
			if err = c.c.Rename(tmp, final); err == nil {
				return nil
			}
		}
		if isReply(err) {
			c.c.Delete(tmp)
		}
	}
	return fmt.Errorf("rinomina di %s in %s: %w", tmp, final, err)
}

// tempName is the name a file is uploaded under before its rename: hidden and unique
// (.<name>.<random>.tmp), or <name>.TEMP as IntermediaMarche writes.
func tempName(name string, suffix bool) string {
	if suffix {
		return name + ".TEMP"
	}
	t := "." + name + "." + randHex(6) + ".tmp"
	if len(t) > 255 {
		t = ".snodo." + randHex(12) + ".tmp"
	}
	return t
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
