package ftp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp/batch"
)

// Flusher is implemented by the senders of the batch convention: Flush builds the
// supporti from the deliveries staged so far and uploads them (and any built earlier
// whose upload failed). The sender also flushes on its own, every flush_every and
// when the staged files reach max_zip_size.
type Flusher interface {
	Flush(ctx context.Context) error
}

// batchSender stages deliveries durably in a local spool and uploads them as
// supporti (zips with a quadratura).
//
// Local layout under Deps.DataDir:
//
//	spool/<key>/manifest.json, 0, 1, ...   one staged delivery (key: hash of message and file name)
//	spool/.tmp-*, spool/.old-*             staging in progress / replaced (removed at recovery)
//	batches/<zip>.building/<key>/          deliveries taken into a zip being built
//	batches/<zip>                          a built zip waiting for upload
//	batches/<zip>.keys                     the await keys of the deliveries in it
//	resolve/<zip>.keys                     uploaded: deliveries to report done to the hub
//	state.json                             the last supporto name used (minute and sequence),
//	                                       when the hub lends no store counter
//
// Every step is a rename of something already fsynced, so a crash at any point
// leaves each delivery either in spool/ (sent again) or in a built zip (uploaded
// again under the same name, which replaces it at the ente).
type batchSender struct {
	ep     *channel.Endpoint
	set    *Settings
	dir    string
	where  string
	pool   *pool
	log    *slog.Logger
	now    func() time.Time
	data   string // DataDir
	spool  string
	builds string

	mu      sync.Mutex // spool moves: staging vs taking into a zip
	flushMu sync.Mutex // one flush at a time
	// resolver completes the deliveries of an uploaded supporto (the hub); without
	// one, Send reports a delivery done once it is staged.
	resolver channel.AwaitResolver
	resolve  string // local folder of uploaded supporti whose deliveries await resolution
	// counter numbers supporti from the store (unique across hub processes); nil uses
	// a local state file.
	counter func(ctx context.Context, name string) (int64, error)
	staged  atomic.Int64
	kick    chan struct{}
	cancel  context.CancelFunc
	loopEnd chan struct{}
}

type manifest struct {
	MessageID string         `json:"message_id"`
	Ente      string         `json:"ente"`
	FileName  string         `json:"file_name"`
	StagedAt  time.Time      `json:"staged_at"`
	Files     []manifestFile `json:"files"`
}

type manifestFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func newBatchSender(ep *channel.Endpoint, set *Settings, deps channel.Deps) (*batchSender, error) {
	if deps.DataDir == "" {
		return nil, fmt.Errorf("ftp: endpoint %s: batch %s: serve la cartella dati dell'endpoint per il deposito locale (a data folder is required)", ep.Name, set.Batch)
	}
	d, err := newDialer(ep, set)
	if err != nil {
		return nil, err
	}
	dir := join(baseDir(ep.URL.Path), set.Dir)
	s := &batchSender{ep: ep, set: set, dir: dir, where: where(ep, dir),
		pool: newPool(d, set.maxConns(), set.idleTimeout()),
		log:  deps.Log().With("endpoint", ep.Name, "dir", where(ep, dir)),
		now:  deps.Clock(), data: deps.DataDir,
		spool: filepath.Join(deps.DataDir, "spool"), builds: filepath.Join(deps.DataDir, "batches"),
		resolve: filepath.Join(deps.DataDir, "resolve"), resolver: deps.Resolver, counter: deps.Counter,
		kick: make(chan struct{}, 1), loopEnd: make(chan struct{})}
	for _, p := range []string{s.spool, s.builds, s.resolve} {
		if err := os.MkdirAll(p, 0o750); err != nil {
			return nil, fmt.Errorf("ftp: cartella locale %s: %w", p, err)
		}
	}
	if err := s.recoverLocal(true); err != nil {
		return nil, err
	}
	s.staged.Store(s.spoolBytes())
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.loop(ctx)
	return s, nil
}

func (s *batchSender) Close() error {
	s.cancel()
	<-s.loopEnd
	s.pool.shutdown()
	return nil
}

func (s *batchSender) loop(ctx context.Context) {
	defer close(s.loopEnd)
	t := time.NewTicker(s.set.flushEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("invio dei supporti FTP non riuscito; riprovo (FTP batch upload failed; retrying)", "err", err)
		}
		s.resolvePending(ctx)
	}
}

// Send stages the delivery; it is uploaded with the next supporto.
func (s *batchSender) Send(ctx context.Context, d *channel.Delivery) (channel.Result, error) {
	files, err := plan(d, s.set.roles())
	if err != nil {
		return channel.Result{}, err
	}
	// Zip order: the main file first, then its companions.
	files = append(files[len(files)-1:], files[:len(files)-1]...)
	var size int64
	for _, f := range files {
		size += int64(len(f.data))
	}
	if size > s.set.maxZipSize() {
		return channel.Result{}, channel.Permanent(fmt.Errorf("ftp: consegna %s di %d byte oltre max_zip_size %d: non entra in un supporto (delivery larger than a supporto)",
			d.MessageID, size, s.set.maxZipSize()))
	}
	if err := ctx.Err(); err != nil {
		return channel.Result{}, err
	}
	sum := sha256.Sum256([]byte(string(d.MessageID) + "\x00" + or(d.FileName, d.Files[0].Name)))
	key := hex.EncodeToString(sum[:16])
	m := manifest{MessageID: string(d.MessageID), Ente: d.Ente, FileName: or(d.FileName, d.Files[0].Name), StagedAt: s.now()}
	tmp := filepath.Join(s.spool, ".tmp-"+randHex(8))
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return channel.Result{}, fmt.Errorf("ftp: deposito locale: %w", err)
	}
	defer os.RemoveAll(tmp)
	for i, f := range files {
		if err := writeSync(filepath.Join(tmp, strconv.Itoa(i)), f.data); err != nil {
			return channel.Result{}, fmt.Errorf("ftp: deposito locale di %s: %w", f.name, err)
		}
		m.Files = append(m.Files, manifestFile{Name: f.name, Size: int64(len(f.data))})
	}
	mj, _ := json.Marshal(m)
	if err := writeSync(filepath.Join(tmp, "manifest.json"), mj); err != nil {
		return channel.Result{}, fmt.Errorf("ftp: deposito locale: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return channel.Result{}, fmt.Errorf("ftp: deposito locale: %w", err)
	}
	final := filepath.Join(s.spool, key)
	s.mu.Lock()
	old := ""
	if _, err := os.Lstat(final); err == nil {
		// A redelivery of a message still waiting: it replaces the staged copy.
		old = filepath.Join(s.spool, ".old-"+randHex(8))
		err = os.Rename(final, old)
		if err != nil {
			s.mu.Unlock()
			return channel.Result{}, fmt.Errorf("ftp: deposito locale: %w", err)
		}
	}
	err = os.Rename(tmp, final)
	if err == nil {
		err = syncDir(s.spool)
	}
	s.mu.Unlock()
	if old != "" {
		os.RemoveAll(old)
	}
	if err != nil {
		return channel.Result{}, fmt.Errorf("ftp: deposito locale: %w", err)
	}
	if s.staged.Add(size) >= s.set.maxZipSize() {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	s.log.Info("file accodati per il prossimo supporto FTP (files queued for the next FTP batch)", "message", d.MessageID, "ente", d.Ente, "files", names)
	res := channel.Result{Detail: fmt.Sprintf("accodato per il prossimo supporto FTP verso %s: %s (queued for the next batch)", s.where, strings.Join(names, ", "))}
	if s.resolver != nil {
		// Done when the supporto holding it is uploaded (resolvePending).
		res.Await = &channel.Await{Key: s.awaitKey(key), Timeout: s.set.awaitTimeout()}
	}
	return res, nil
}

// Flush builds supporti from the staged deliveries and uploads every built supporto.
func (s *batchSender) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.recoverLocal(false); err != nil {
		return err
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	return s.uploadAll(ctx)
}

// recoverLocal finishes or undoes what a crash (or a failed flush) interrupted. At
// start it also removes staging folders no Send is using any more.
func (s *batchSender) recoverLocal(start bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := os.ReadDir(s.builds)
	if err != nil {
		return fmt.Errorf("ftp: deposito locale: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			os.RemoveAll(filepath.Join(s.builds, name)) // a zip half written
		case strings.HasSuffix(name, ".zip.keys"):
			if _, err := os.Lstat(filepath.Join(s.builds, strings.TrimSuffix(name, ".keys"))); errors.Is(err, iofs.ErrNotExist) {
				s.queueResolution(strings.TrimSuffix(name, ".keys")) // uploaded before a crash
			}
		case strings.HasSuffix(name, ".building"):
			building := filepath.Join(s.builds, name)
			if _, err := os.Lstat(filepath.Join(s.builds, strings.TrimSuffix(name, ".building"))); err != nil {
				// The zip was not finished: its deliveries go back to the spool.
				keys, _ := os.ReadDir(building)
				for _, k := range keys {
					back := filepath.Join(s.spool, k.Name())
					if _, err := os.Lstat(back); err == nil {
						continue // staged again meanwhile: the newer copy wins
					}
					if err := os.Rename(filepath.Join(building, k.Name()), back); err != nil {
						return fmt.Errorf("ftp: deposito locale: %w", err)
					}
				}
				syncDir(s.spool)
			}
			os.RemoveAll(building)
		}
	}
	if !start {
		return nil
	}
	garbage, _ := os.ReadDir(s.spool)
	for _, e := range garbage {
		if strings.HasPrefix(e.Name(), ".") {
			os.RemoveAll(filepath.Join(s.spool, e.Name()))
		}
	}
	return nil
}

type staged struct {
	key string
	m   manifest
}

// build takes the staged deliveries into zips.
func (s *batchSender) build(ctx context.Context) error {
	s.mu.Lock()
	entries, err := os.ReadDir(s.spool)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("ftp: deposito locale: %w", err)
	}
	var items []staged
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		mj, err := os.ReadFile(filepath.Join(s.spool, e.Name(), "manifest.json"))
		var m manifest
		if err == nil {
			err = json.Unmarshal(mj, &m)
		}
		if err != nil {
			s.log.Error("consegna in deposito illeggibile, lasciata in "+filepath.Join(s.spool, e.Name())+" (unreadable staged delivery)", "err", err)
			continue
		}
		items = append(items, staged{key: e.Name(), m: m})
	}
	sort.Slice(items, func(i, j int) bool {
		if !items[i].m.StagedAt.Equal(items[j].m.StagedAt) {
			return items[i].m.StagedAt.Before(items[j].m.StagedAt)
		}
		return items[i].key < items[j].key
	})
	groups := make([]batch.Group, len(items))
	for i, it := range items {
		for _, f := range it.m.Files {
			groups[i].Size += f.Size
			groups[i].Names = append(groups[i].Names, f.Name)
		}
	}
	type job struct {
		name     batch.Name
		building string
		items    []staged
	}
	var jobs []job
	now := s.now()
	for _, idx := range batch.Plan(groups, s.set.maxZipSize()) {
		name, err := s.nextName(ctx, now)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		j := job{name: name, building: filepath.Join(s.builds, name.Zip()+".building")}
		if err := os.Mkdir(j.building, 0o750); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("ftp: deposito locale: %w", err)
		}
		for _, i := range idx {
			if err := os.Rename(filepath.Join(s.spool, items[i].key), filepath.Join(j.building, items[i].key)); err != nil {
				s.mu.Unlock()
				return fmt.Errorf("ftp: deposito locale: %w", err)
			}
			j.items = append(j.items, items[i])
		}
		syncDir(s.builds)
		jobs = append(jobs, j)
	}
	syncDir(s.spool)
	s.mu.Unlock()
	s.staged.Store(s.spoolBytes())

	for _, j := range jobs {
		if err := s.writeZip(j.name, j.building, j.items, now); err != nil {
			return err
		}
		os.RemoveAll(j.building)
	}
	return nil
}

// writeZip writes batches/<zip> from the deliveries in building.
func (s *batchSender) writeZip(name batch.Name, building string, items []staged, now time.Time) error {
	var entries []batch.Entry
	var names []string
	for _, it := range items {
		for i, f := range it.m.Files {
			p := filepath.Join(building, it.key, strconv.Itoa(i))
			entries = append(entries, batch.Entry{Name: f.Name, Size: f.Size, Open: func() (io.ReadCloser, error) { return os.Open(p) }})
			names = append(names, f.Name)
		}
	}
	q := &batch.Quadratura{IdentificativoNodo: s.set.nodo(), DataOraCreazione: now, NomeSupporto: name.Zip(), NumeroFile: batch.CountNames(names)}
	tmp := filepath.Join(s.builds, "."+name.Zip()+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("ftp: supporto %s: %w", name.Zip(), err)
	}
	err = batch.WriteZip(f, q, name.Quadratura(), entries, now)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.builds, name.Zip()))
	}
	if err == nil {
		err = syncDir(s.builds)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ftp: supporto %s: %w", name.Zip(), err)
	}
	// The await keys of its deliveries, written after the zip: a crash in between
	// leaves a zip without keys, uploaded without reporting its deliveries (their waits
	// run out and they are sent again: at least once, never lost).
	keys := make([]string, 0, len(items))
	for _, it := range items {
		keys = append(keys, s.awaitKey(it.key))
	}
	kj, _ := json.Marshal(keys)
	ktmp := filepath.Join(s.builds, "."+name.Zip()+".keys.tmp")
	if err := writeSync(ktmp, kj); err == nil {
		os.Rename(ktmp, filepath.Join(s.builds, name.Zip()+".keys"))
		syncDir(s.builds)
	}
	s.log.Info("supporto FTP pronto (FTP supporto built)", "supporto", name.Zip(), "deliveries", len(items), "files", len(names))
	return nil
}

// uploadAll uploads the built zips, oldest name first, each as <zip>.done.
func (s *batchSender) uploadAll(ctx context.Context) error {
	entries, err := os.ReadDir(s.builds)
	if err != nil {
		return fmt.Errorf("ftp: deposito locale: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() || !strings.HasSuffix(name, ".zip") {
			continue
		}
		local := filepath.Join(s.builds, name)
		err := s.pool.do(ctx, func(c *conn) error {
			if s.set.createDirs() {
				if err := mkdirAll(c.c, s.dir); err != nil && !isReply(err) {
					return err
				}
			}
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			return putAtomic(c, s.dir, name+batch.DoneSuffix, f, s.set.tempSuffix(), s.set.createDirs())
		})
		if err != nil {
			return fmt.Errorf("ftp: invio del supporto %s in %s: %w", name, s.where, err)
		}
		if err := os.Remove(local); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("ftp: deposito locale: %w", err)
		}
		s.queueResolution(name)
		syncDir(s.builds)
		s.log.Info("supporto FTP consegnato (FTP supporto delivered)", "supporto", name+batch.DoneSuffix)
	}
	return nil
}

type nameState struct {
	Stamp string `json:"stamp"` // AAAADDD.HHMM in UTC
	N     int    `json:"n"`
}

// nextName allocates the next supporto name, persisting it before use so a name is
// never given twice.
func (s *batchSender) nextName(ctx context.Context, now time.Time) (batch.Name, error) {
	name := batch.Name{Prefix: batch.PrefixOut, CF: batch.StripIT(s.set.CodiceFiscale), Time: now}
	if s.counter != nil {
		// A counter in the store shared by every hub process: two processes writing the
		// same folder never make the same name, whatever the minute.
		v, err := s.counter(ctx, "ftp-supporto:"+s.where+":"+name.CF)
		if err != nil {
			return batch.Name{}, fmt.Errorf("ftp: numero del supporto: %w", err)
		}
		name.N = int((v-1)%999) + 1
		return name, nil
	}
	path := filepath.Join(s.data, "state.json")
	var st nameState
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &st)
	}
	u := now.UTC()
	stamp := fmt.Sprintf("%04d%03d.%02d%02d", u.Year(), u.YearDay(), u.Hour(), u.Minute())
	n := 1
	if st.Stamp == stamp {
		n = st.N + 1
	}
	if n > 999 {
		return batch.Name{}, fmt.Errorf("ftp: 999 supporti nello stesso minuto; riprovo al prossimo (999 supporti in one minute)")
	}
	b, _ := json.Marshal(nameState{Stamp: stamp, N: n})
	tmp := path + ".tmp"
	if err := writeSync(tmp, b); err != nil {
		return batch.Name{}, fmt.Errorf("ftp: stato locale: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return batch.Name{}, fmt.Errorf("ftp: stato locale: %w", err)
	}
	syncDir(s.data)
	name.N = n
	return name, nil
}

func (s *batchSender) spoolBytes() int64 {
	var n int64
	filepath.WalkDir(s.spool, func(p string, d iofs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "manifest.json" {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// awaitKey names the wait of a staged delivery in the hub.
func (s *batchSender) awaitKey(key string) string { return "ftp-batch:" + s.ep.Name + ":" + key }

// queueResolution moves the keys of an uploaded supporto to the resolution folder.
func (s *batchSender) queueResolution(zip string) {
	from := filepath.Join(s.builds, zip+".keys")
	if err := os.Rename(from, filepath.Join(s.resolve, zip+".keys")); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		s.log.Warn("esiti delle consegne del supporto non registrabili (cannot queue the deliveries' completion)", "supporto", zip, "err", err)
	}
	syncDir(s.resolve)
}

// resolvePending reports to the hub the deliveries of uploaded supporti. A wait the
// hub has not recorded yet (the upload beat the job's commit) is tried again at the next
// round, for up to a day.
func (s *batchSender) resolvePending(ctx context.Context) {
	if s.resolver == nil {
		return
	}
	entries, err := os.ReadDir(s.resolve)
	if err != nil {
		return
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		path := filepath.Join(s.resolve, e.Name())
		data, err := os.ReadFile(path)
		var keys []string
		if err == nil {
			err = json.Unmarshal(data, &keys)
		}
		if err != nil {
			s.log.Error("elenco delle consegne illeggibile, rimosso (unreadable completion list)", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		zip := strings.TrimSuffix(e.Name(), ".keys")
		var left []string
		for _, k := range keys {
			// An error (the wait not recorded yet, the store busy): try again later.
			if err := s.resolver.ResolveAwait(ctx, k, true, "caricato sul server FTP nel supporto "+zip+batch.DoneSuffix); err != nil {
				left = append(left, k)
			}
		}
		info, _ := e.Info()
		switch {
		case len(left) == 0:
			os.Remove(path)
		case info != nil && time.Since(info.ModTime()) > 24*time.Hour:
			s.log.Warn("consegne del supporto mai attese dall'hub: abbandonate (deliveries never awaited: dropped)", "supporto", zip, "keys", len(left))
			os.Remove(path)
		case len(left) < len(keys):
			lj, _ := json.Marshal(left)
			tmp := filepath.Join(s.resolve, "."+e.Name()+".tmp")
			if writeSync(tmp, lj) == nil {
				os.Rename(tmp, path)
			}
		}
	}
}
