// Package fs is the channel kind "fs": a local (or mounted) directory.
//
// The sender writes each file under a temporary dot-name in the target folder, fsyncs
// it, renames it to its final name and fsyncs the folder, so no reader ever sees half a
// file and a redelivery overwrites instead of duplicating. The receiver polls a folder,
// claims each stable file by renaming it into .processing/, hands it to the store, and
// only then moves it to processed/ (or deletes it); files left in .processing/ by a crash
// are handed over again at start, and the store recognises them by their DedupKey.
package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"snodo/pkg/channel"
)

// Settings of an fs endpoint (the `settings:` of a route phase).
type Settings struct {
	// Sender
	Fsync      *bool    `yaml:"fsync"`       // fsync files and folder (default true)
	DoneMarker bool     `yaml:"done_marker"` // also write <name>.done after the files
	Roles      []string `yaml:"roles"`       // file roles to write (default: all)
	Mode       string   `yaml:"mode"`        // octal file mode, default "0640"

	// Receiver
	Pattern   string        `yaml:"pattern"`     // glob of names to pick up (default "*")
	Poll      time.Duration `yaml:"poll"`        // listing interval (default 1s)
	MinAge    time.Duration `yaml:"min_age"`     // skip files modified more recently (default 500ms)
	MaxSize   int64         `yaml:"max_size"`    // larger files are refused (default 32 MiB)
	After     string        `yaml:"after"`       // "move" (to processed/, default) or "delete"
	Processed string        `yaml:"processed"`   // folder for processed files (default <dir>/processed)
	Rejected  string        `yaml:"rejected"`    // folder for refused files (default <dir>/rejected)
	MkdirAll  *bool         `yaml:"create_dirs"` // create missing folders (default true)
	// StaleClaim is how long a file may sit in .processing before another receiver (of
	// this or another hub process sharing the folder) takes it over (default 1m).
	StaleClaim time.Duration `yaml:"stale_claim"`
	// Workers hand claimed files to the store concurrently (default 4).
	Workers int `yaml:"workers"`
}

func (s *Settings) fsync() bool    { return s.Fsync == nil || *s.Fsync }
func (s *Settings) mkdirAll() bool { return s.MkdirAll == nil || *s.MkdirAll }

// Check validates the settings against the endpoint.
func (s *Settings) Check(ep *channel.Endpoint) error {
	if ep.URL.Host != "" && ep.URL.Host != "localhost" {
		return fmt.Errorf("URL %s: un percorso file:// non può avere un host; usare file:///percorso/assoluto (file URLs take no host)", ep.URL)
	}
	if !filepath.IsAbs(ep.URL.Path) {
		return fmt.Errorf("URL %s: serve un percorso assoluto (an absolute path is required)", ep.URL)
	}
	if s.Pattern != "" {
		if _, err := filepath.Match(s.Pattern, "x"); err != nil {
			return fmt.Errorf("pattern %q non valido: %v (bad glob)", s.Pattern, err)
		}
	}
	switch s.After {
	case "", "move", "delete":
	default:
		return fmt.Errorf("after: %q non valido; usare move o delete (after must be move or delete)", s.After)
	}
	if s.Mode != "" {
		if _, err := parseMode(s.Mode); err != nil {
			return err
		}
	}
	return nil
}

func parseMode(s string) (os.FileMode, error) {
	var m uint32
	if _, err := fmt.Sscanf(s, "%o", &m); err != nil || m > 0o777 {
		return 0, fmt.Errorf("mode %q non valido: usare un ottale come 0640 (mode must be octal like 0640)", s)
	}
	return os.FileMode(m), nil
}

// Kind returns the fs channel kind.
func Kind() *channel.Kind {
	return &channel.Kind{
		Name:        "fs",
		Schemes:     []string{"file"},
		NewSettings: func() any { return &Settings{} },
		NewSender:   newSender,
		NewReceiver: newReceiver,
	}
}

func settingsOf(ep *channel.Endpoint) *Settings {
	if s, ok := ep.Settings.(*Settings); ok && s != nil {
		return s
	}
	return &Settings{}
}

// ---- sender ----

type sender struct {
	dir  string
	set  *Settings
	mode os.FileMode

	sweepMu   sync.Mutex
	lastSweep time.Time // zero: the first Send sweeps
}

func newSender(ep *channel.Endpoint, deps channel.Deps) (channel.Sender, error) {
	set := settingsOf(ep)
	mode := os.FileMode(0o640)
	if set.Mode != "" {
		var err error
		if mode, err = parseMode(set.Mode); err != nil {
			return nil, err
		}
	}
	return &sender{dir: filepath.Clean(ep.URL.Path), set: set, mode: mode}, nil
}

func (s *sender) Close() error { return nil }

func (s *sender) wanted(role string) bool {
	if len(s.set.Roles) == 0 {
		return true
	}
	for _, r := range s.set.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func (s *sender) Send(ctx context.Context, d *channel.Delivery) (channel.Result, error) {
	if s.set.mkdirAll() {
		if err := os.MkdirAll(s.dir, 0o750); err != nil {
			return channel.Result{}, fmt.Errorf("fs: cartella %s: %w", s.dir, err)
		}
	}
	// Related files first, the main file last: a reader triggered by the main file
	// finds its companions already there.
	var order []int
	for i := range d.Files {
		if i > 0 && s.wanted(d.Files[i].Role) {
			order = append(order, i)
		}
	}
	if len(d.Files) > 0 && s.wanted(d.Files[0].Role) {
		order = append(order, 0)
	}
	var written []string
	for _, i := range order {
		f := &d.Files[i]
		name := f.Name
		if i == 0 && d.FileName != "" {
			name = d.FileName
		}
		if err := channel.SafeFileName(name); err != nil {
			return channel.Result{}, channel.Permanent(fmt.Errorf("fs: %w", err))
		}
		if err := ctx.Err(); err != nil {
			return channel.Result{}, err
		}
		if err := s.writeAtomic(name, f.Data); err != nil {
			return channel.Result{}, err
		}
		written = append(written, name)
	}
	if s.set.DoneMarker && len(written) > 0 {
		if err := s.writeAtomic(written[len(written)-1]+".done", nil); err != nil {
			return channel.Result{}, err
		}
	}
	if s.set.fsync() {
		if err := syncDir(s.dir); err != nil {
			return channel.Result{}, fmt.Errorf("fs: fsync %s: %w", s.dir, err)
		}
	}
	return channel.Result{Detail: fmt.Sprintf("scritto in %s: %s", s.dir, strings.Join(written, ", "))}, nil
}

func (s *sender) writeAtomic(name string, data []byte) error {
	final := filepath.Join(s.dir, name)
	tmp := filepath.Join(s.dir, "."+name+"."+randHex(6)+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.mode)
	if err != nil {
		return fmt.Errorf("fs: crea %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil && s.set.fsync() {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fs: scrittura di %s: %w", final, err)
	}
	s.sweepTemps()
	return nil
}

// sweepTemps deletes, at most once per sweep interval, temporary files older than the
// interval: leftovers of a process killed mid-write (readers never see them: they
// start with a dot). A live writer's temp file is younger and stays.
func (s *sender) sweepTemps() {
	s.sweepMu.Lock()
	if time.Since(s.lastSweep) < tempSweepInterval {
		s.sweepMu.Unlock()
		return
	}
	s.lastSweep = time.Now()
	s.sweepMu.Unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".tmp") || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > tempSweepInterval {
			os.Remove(filepath.Join(s.dir, n))
		}
	}
}

// tempSweepInterval is both how often a sender sweeps its folder and how old a
// temporary file must be to be swept.
var tempSweepInterval = 10 * time.Minute

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- receiver ----

const processingDir = ".processing"

type receiver struct {
	ep    *channel.Endpoint
	dir   string
	set   *Settings
	deps  channel.Deps
	seen  map[string]seenFile // for the stability check across listings
	procd string
	rejd  string
	// retryClaimed is set when a claimed file could not be handed over: the next cycle
	// retries everything in .processing.
	retryClaimed bool
	// onlyStale limits the next drain of .processing to stale claims.
	onlyStale bool
	dirsMade  sync.Map // processed/<day> folders known to exist
}

func (r *receiver) workers() int {
	if r.set.Workers > 0 {
		return r.set.Workers
	}
	return 4
}

func (r *receiver) staleClaim() time.Duration {
	if r.set.StaleClaim > 0 {
		return r.set.StaleClaim
	}
	return time.Minute
}

// changeTime is when a file's inode last changed: a rename into .processing sets it,
// so it dates the claim (the modification time does not change on rename).
func changeTime(info iofs.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return info.ModTime()
}

type seenFile struct {
	size  int64
	mtime time.Time
}

func newReceiver(ep *channel.Endpoint, deps channel.Deps) (channel.Receiver, error) {
	set := settingsOf(ep)
	dir := filepath.Clean(ep.URL.Path)
	r := &receiver{ep: ep, dir: dir, set: set, deps: deps, seen: map[string]seenFile{},
		procd: set.Processed, rejd: set.Rejected}
	if r.procd == "" {
		r.procd = filepath.Join(dir, "processed")
	}
	if r.rejd == "" {
		r.rejd = filepath.Join(dir, "rejected")
	}
	return r, nil
}

func (r *receiver) poll() time.Duration {
	if r.set.Poll > 0 {
		return r.set.Poll
	}
	return time.Second
}

func (r *receiver) minAge() time.Duration {
	if r.set.MinAge != 0 {
		return max(r.set.MinAge, 0)
	}
	return 500 * time.Millisecond
}

func (r *receiver) maxSize() int64 {
	if r.set.MaxSize > 0 {
		return r.set.MaxSize
	}
	return 32 << 20
}

// Run polls the folder until ctx is cancelled.
func (r *receiver) Run(ctx context.Context, sink channel.Sink) error {
	log := r.deps.Log().With("endpoint", r.ep.Name, "dir", r.dir)
	if r.set.mkdirAll() {
		for _, d := range []string{r.dir, filepath.Join(r.dir, processingDir)} {
			if err := os.MkdirAll(d, 0o750); err != nil {
				return fmt.Errorf("fs: cartella %s: %w", d, err)
			}
		}
	}
	// Crash recovery: whatever is in .processing was claimed but maybe not committed.
	if err := r.drainProcessing(ctx, sink, log); err != nil && ctx.Err() == nil {
		log.Warn("recupero di .processing non riuscito", "err", err)
	}
	t := time.NewTicker(r.poll())
	defer t.Stop()
	lastStaleCheck := time.Now()
	for {
		// Files whose hand-over failed stay claimed in .processing: retry them first.
		// Claims older than stale_claim were left by a dead process sharing the folder.
		if r.retryClaimed || time.Since(lastStaleCheck) > r.staleClaim()/2 {
			lastStaleCheck = time.Now()
			r.onlyStale = !r.retryClaimed
			r.retryClaimed = false
			if err := r.drainProcessing(ctx, sink, log); err != nil && ctx.Err() == nil {
				log.Warn("ripresa dei file in lavorazione non riuscita", "err", err)
			}
		}
		if err := r.scan(ctx, sink, log); err != nil && ctx.Err() == nil {
			log.Warn("lettura cartella non riuscita; riprovo", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce performs one listing and hands over every stable file (used by tests and
// by the benchmark); files that are not yet stable are left for the next listing.
func (r *receiver) RunOnce(ctx context.Context, sink channel.Sink) error {
	if err := r.drainProcessing(ctx, sink, r.deps.Log()); err != nil {
		return err
	}
	return r.scan(ctx, sink, r.deps.Log())
}

func (r *receiver) drainProcessing(ctx context.Context, sink channel.Sink, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) error {
	pdir := filepath.Join(r.dir, processingDir)
	entries, err := os.ReadDir(pdir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	onlyStale := r.onlyStale
	r.onlyStale = false
	for _, e := range entries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.Type().IsRegular() {
			continue
		}
		if onlyStale {
			info, err := e.Info()
			if err != nil || time.Since(changeTime(info)) < r.staleClaim() {
				continue
			}
		}
		log.Info("ripresa di un file rimasto in lavorazione", "file", e.Name())
		if err := r.handle(ctx, sink, e.Name(), filepath.Join(pdir, e.Name())); err != nil {
			r.retryClaimed = true
			log.Warn("file non consegnato allo store; resta in lavorazione", "file", e.Name(), "err", err)
		}
	}
	return nil
}

func (r *receiver) scan(ctx context.Context, sink channel.Sink, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("fs: lettura di %s: %w", r.dir, err)
	}
	pattern := r.set.Pattern
	if pattern == "" {
		pattern = "*"
	}
	now := r.deps.Clock()()
	current := map[string]bool{}
	var wg sync.WaitGroup
	var failed atomic.Bool
	sem := make(chan struct{}, r.workers())
	defer wg.Wait()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if ctx.Err() != nil {
			return nil
		}
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".done") {
			continue
		}
		if ok, _ := filepath.Match(pattern, name); !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		current[name] = true
		// Stable: old enough, and the same size and time as in the previous listing
		// (unless min_age is negative, which disables the check).
		prev, had := r.seen[name]
		r.seen[name] = seenFile{info.Size(), info.ModTime()}
		if r.set.MinAge >= 0 {
			if now.Sub(info.ModTime()) < r.minAge() {
				continue
			}
			if r.set.MinAge > 0 && (!had || prev.size != info.Size() || !prev.mtime.Equal(info.ModTime())) {
				continue
			}
		}
		if info.Size() > r.maxSize() {
			r.reject(name, fmt.Sprintf("file di %d byte oltre il limite di %d: ridurre o dividere il file (file too large)", info.Size(), r.maxSize()), log)
			continue
		}
		claimed := filepath.Join(r.dir, processingDir, name)
		if err := os.Rename(filepath.Join(r.dir, name), claimed); err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				continue // another hub process claimed it
			}
			return fmt.Errorf("fs: presa in carico di %s: %w", name, err)
		}
		delete(r.seen, name)
		// Hand claimed files over concurrently: reading and acknowledging overlap with
		// the store's commits.
		sem <- struct{}{}
		wg.Add(1)
		go func(name, claimed string) {
			defer func() { <-sem; wg.Done() }()
			if err := r.handle(ctx, sink, name, claimed); err != nil {
				failed.Store(true)
				log.Warn("file non consegnato allo store; resta in lavorazione e sarà ripreso", "file", name, "err", err)
			}
		}(name, claimed)
	}
	wg.Wait()
	if failed.Load() {
		r.retryClaimed = true
	}
	for name := range r.seen {
		if !current[name] {
			delete(r.seen, name)
		}
	}
	return nil
}

func (r *receiver) handle(ctx context.Context, sink channel.Sink, name, path string) error {
	if err := channel.SafeFileName(name); err != nil {
		r.rejectPath(path, name, err.Error(), r.deps.Log())
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	// Size the buffer from the file so a large payload is read into one allocation.
	var hint int64
	if info, err := f.Stat(); err == nil {
		hint = min(info.Size(), r.maxSize()) + bytes.MinRead
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint))
	_, err = buf.ReadFrom(io.LimitReader(f, r.maxSize()+1))
	data := buf.Bytes()
	f.Close()
	if err != nil {
		return fmt.Errorf("fs: lettura di %s: %w", path, err)
	}
	if int64(len(data)) > r.maxSize() {
		r.rejectPath(path, name, fmt.Sprintf("file oltre il limite di %d byte (file too large)", r.maxSize()), r.deps.Log())
		return nil
	}
	sum := sha256.Sum256(data)
	in := channel.Inbound{
		FileName: name,
		Data:     data,
		DedupKey: "fs:" + r.dir + ":" + name + ":" + hex.EncodeToString(sum[:]),
		Source:   "file://" + filepath.Join(r.dir, name),
		Headers:  map[string]string{"SourcePath": filepath.Join(r.dir, name)},
	}
	if _, err := sink.Accept(ctx, in); err != nil {
		return err
	}
	return r.ack(name, path)
}

// ack removes a committed file from the inbox: moved to processed/ or deleted.
func (r *receiver) ack(name, path string) error {
	if r.set.After == "delete" {
		if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		return nil
	}
	dayDir := filepath.Join(r.procd, r.deps.Clock()().Format("2006-01-02"))
	if _, made := r.dirsMade.Load(dayDir); !made {
		if err := os.MkdirAll(dayDir, 0o750); err != nil {
			return err
		}
		r.dirsMade.Store(dayDir, true)
	}
	target := filepath.Join(dayDir, name)
	if _, err := os.Lstat(target); err == nil {
		target = filepath.Join(dayDir, name+"."+randHex(4))
	}
	if err := os.Rename(path, target); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err // ErrNotExist: another hub process sharing the folder acknowledged it
	}
	return nil
}

func (r *receiver) reject(name, reason string, log interface{ Warn(string, ...any) }) {
	r.rejectPath(filepath.Join(r.dir, name), name, reason, log)
}

// rejectPath moves a refused file to rejected/ with a .errore.txt beside it that says
// why, so the ente's operator sees it; the hub logs it too.
func (r *receiver) rejectPath(path, name, reason string, log interface{ Warn(string, ...any) }) {
	log.Warn("file rifiutato", "file", name, "reason", reason)
	if err := os.MkdirAll(r.rejd, 0o750); err != nil {
		return
	}
	safe := strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return '_'
		}
		return c
	}, name)
	if len(safe) > 200 {
		safe = safe[:200]
	}
	target := filepath.Join(r.rejd, safe+"."+randHex(4))
	if os.Rename(path, target) == nil {
		os.WriteFile(target+".errore.txt", []byte(reason+"\n"), 0o640)
	}
}
