package ftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jlaffaye/ftp"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp/batch"
)

// receiver polls one remote folder.
type receiver struct {
	ep   *channel.Endpoint
	set  *Settings
	deps channel.Deps
	d    *dialer
	log  *slog.Logger

	dir, procDir, doneDir, rejDir, outDir string
	src, keyBase                          string

	c         *conn
	dirsReady bool
	// seen remembers size and time of files across listings (stability check); it
	// holds only names of the last listing.
	seen map[string]seenFile
	// warned remembers refused names already logged, so each is logged once.
	warned map[string]bool
	// pending are the names in the processing folder not yet acknowledged: a file of
	// the same name in the inbox waits until they are done, so it never overwrites one.
	pending map[string]bool
	// tooBig are claimed files found over the limit while downloading.
	tooBig map[string]bool
	// retryClaimed asks the next cycle to hand over the processing folder again.
	retryClaimed bool
	started      bool
	// staleOnly limits the next drain to claims older than stale_claim: files another
	// hub process sharing the folder claimed and then died with. claimSeen dates each
	// claimed file from the first listing that showed it (a rename keeps the mtime).
	staleOnly bool
	claimSeen map[string]time.Time
	lastStale time.Time
}

type seenFile struct {
	size  uint64
	mtime time.Time
	since time.Time
}

func newReceiver(ep *channel.Endpoint, deps channel.Deps) (channel.Receiver, error) {
	return newRecv(ep, deps)
}

func newRecv(ep *channel.Endpoint, deps channel.Deps) (*receiver, error) {
	set := settingsOf(ep)
	d, err := newDialer(ep, set)
	if err != nil {
		return nil, err
	}
	dir := baseDir(ep.URL.Path)
	r := &receiver{ep: ep, set: set, deps: deps, d: d,
		dir:     dir,
		procDir: join(dir, or(set.Processing, ".processing")),
		doneDir: join(dir, set.processed()),
		rejDir:  join(dir, or(set.Rejected, "rejected")),
		outDir:  join(dir, set.OutcomeDir),
		src:     strings.TrimSuffix(where(ep, dir), "/"),
		keyBase: "ftp:" + strings.ToLower(ep.URL.Host) + ":" + dir,
		seen:    map[string]seenFile{}, warned: map[string]bool{}, pending: map[string]bool{}, tooBig: map[string]bool{},
	}
	r.log = deps.Log().With("endpoint", ep.Name, "dir", r.src)
	return r, nil
}

// Run polls the folder until ctx is cancelled. When the server cannot be reached the
// next attempts back off (doubling from poll up to two minutes, with jitter); files
// claimed but not handed over are handed over again at start and after every failure.
func (r *receiver) Run(ctx context.Context, sink channel.Sink) error {
	r.cleanLocal()
	defer r.disconnect()
	failures := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		recover := failures > 0 || r.retryClaimed || !r.started
		if !recover && time.Since(r.lastStale) > r.set.staleClaim()/2 {
			recover, r.staleOnly = true, true
			r.lastStale = time.Now()
		}
		err := r.cycle(ctx, sink, recover)
		r.started, r.staleOnly = true, false
		wait := r.set.poll()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = backoff(wait, failures)
			r.log.Warn("lettura della cartella FTP non riuscita; riprovo (FTP poll failed; retrying)",
				"err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
			r.disconnect()
		case failures > 0:
			r.log.Info("cartella FTP di nuovo raggiungibile (FTP folder reachable again)", "after_failures", failures)
			failures = 0
		}
		t.Reset(wait)
	}
}

// backoff is the wait after n consecutive failures: poll doubled n-1 times, at most
// two minutes (or poll, when longer), plus up to 20% jitter so that many endpoints of
// one server do not reconnect in step.
func backoff(poll time.Duration, n int) time.Duration {
	limit := max(poll, 2*time.Minute)
	d := poll
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// runOnce is one polling cycle with recovery (tests and benchmarks).
func (r *receiver) runOnce(ctx context.Context, sink channel.Sink) error {
	err := r.cycle(ctx, sink, true)
	if err != nil {
		r.disconnect()
	}
	return err
}

func (r *receiver) disconnect() {
	if r.c != nil {
		r.c.quit()
		r.c = nil
	}
}

// connect returns the open connection, checked with NOOP, or a new one.
func (r *receiver) connect(ctx context.Context) (*conn, error) {
	if r.c != nil && !r.c.isDead() {
		stop := r.c.guard(ctx)
		err := r.c.c.NoOp()
		stop()
		if err == nil {
			return r.c, nil
		}
		r.disconnect()
	}
	c, err := r.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	r.c = c
	return c, nil
}

func (r *receiver) cycle(ctx context.Context, sink channel.Sink, recover bool) error {
	c, err := r.connect(ctx)
	if err != nil {
		return err
	}
	stop := c.guard(ctx)
	defer stop()
	if !r.dirsReady && r.set.createDirs() {
		if err := mkdirAll(c.c, r.procDir); err != nil && !isReply(err) {
			return err
		}
		r.dirsReady = true
	}
	if recover {
		r.retryClaimed = false
		if err := r.drain(ctx, c, sink); err != nil {
			return ctxErr(ctx, err)
		}
	}
	return ctxErr(ctx, r.scan(ctx, c, sink))
}

// drain hands over again whatever is in the processing folder: files claimed by a
// process that stopped before acknowledging them.
func (r *receiver) drain(ctx context.Context, c *conn, sink channel.Sink) error {
	entries, err := c.c.List(r.procDir)
	if err != nil {
		if isReply(err) {
			return nil // no processing folder yet
		}
		return fmt.Errorf("elenco di %s: %w", r.procDir, err)
	}
	clear(r.pending)
	now := time.Now()
	if r.claimSeen == nil {
		r.claimSeen = map[string]time.Time{}
	}
	listed := map[string]bool{}
	for _, e := range entries {
		if e.Type == ftp.EntryTypeFile && CheckRemoteName(e.Name) == nil {
			r.pending[e.Name] = true
			listed[e.Name] = true
			if _, ok := r.claimSeen[e.Name]; !ok {
				r.claimSeen[e.Name] = now
			}
		}
	}
	for name := range r.claimSeen {
		if !listed[name] {
			delete(r.claimSeen, name)
		}
	}
	for _, e := range sorted(entries) {
		if ctx.Err() != nil {
			return nil
		}
		if e.Type != ftp.EntryTypeFile {
			continue
		}
		if r.staleOnly && now.Sub(r.claimSeen[e.Name]) < r.set.staleClaim() {
			continue // perhaps a live process's claim: not ours to take yet
		}
		if err := CheckRemoteName(e.Name); err != nil {
			r.warnName(e.Name, err)
			continue
		}
		claimed := file(r.procDir, e.Name)
		if r.tooBig[e.Name] {
			delete(r.tooBig, e.Name)
			if err := r.reject(c, e.Name, claimed, r.tooLarge(int64(e.Size))); err != nil {
				return err
			}
			continue
		}
		r.log.Info("ripresa di un file rimasto in lavorazione (resuming a claimed file)", "file", e.Name)
		if err := r.handle(ctx, c, sink, e.Name, claimed, int64(e.Size)); err != nil {
			return err
		}
	}
	return nil
}

// scan lists the folder and claims and hands over every file that is ready.
func (r *receiver) scan(ctx context.Context, c *conn, sink channel.Sink) error {
	entries, err := c.c.List(r.dir)
	if err != nil {
		return fmt.Errorf("elenco di %s: %w", r.src, err)
	}
	now := r.deps.Clock()()
	listed := map[string]bool{}
	markers := map[string]bool{}
	for _, e := range entries {
		if e.Type == ftp.EntryTypeFile && strings.HasSuffix(e.Name, ".done") {
			markers[e.Name] = true
		}
	}
	pattern := r.set.pattern()
	stable := r.set.stable()
	for _, e := range sorted(entries) {
		if ctx.Err() != nil {
			return nil
		}
		name := e.Name
		if e.Type != ftp.EntryTypeFile || name == "." || name == ".." {
			continue
		}
		if err := CheckRemoteName(name); err != nil {
			listed[name] = true
			r.warnName(name, err)
			continue
		}
		if r.skip(name) {
			continue
		}
		if ok, _ := path.Match(pattern, name); !ok {
			continue
		}
		listed[name] = true
		switch stable {
		case StableDone:
			if !markers[name+".done"] {
				continue
			}
		case StableListing:
			prev, had := r.seen[name]
			if !had || prev.size != e.Size || !prev.mtime.Equal(e.Time) {
				r.seen[name] = seenFile{size: e.Size, mtime: e.Time, since: now}
				continue
			}
			if now.Sub(prev.since) < r.set.stableFor() {
				continue
			}
		}
		if r.pending[name] {
			continue // a file of this name is still being handed over
		}
		if int64(e.Size) > r.set.maxSize() {
			if err := r.reject(c, name, file(r.dir, name), r.tooLarge(int64(e.Size))); err != nil {
				return err
			}
			continue
		}
		claimed := file(r.procDir, name)
		if err := r.claim(c, name, claimed); err != nil {
			if isReply(err) {
				continue // gone meanwhile (another hub process claimed it), or warned
			}
			return fmt.Errorf("presa in carico di %s: %w", name, err)
		}
		delete(r.seen, name)
		r.pending[name] = true
		if stable == StableDone {
			c.c.Delete(file(r.dir, name+".done")) // the marker has done its job
		}
		if err := r.handle(ctx, c, sink, name, claimed, int64(e.Size)); err != nil {
			return err
		}
	}
	for name := range r.seen {
		if !listed[name] {
			delete(r.seen, name)
		}
	}
	for name := range r.warned {
		if !listed[name] {
			delete(r.warned, name)
		}
	}
	return nil
}

// claim renames a listed file into the processing folder. When the rename is refused
// the folder is created again (an operator may have removed it) and the rename tried
// once more; a second refusal is logged once per file (the file stays where it is).
func (r *receiver) claim(c *conn, name, claimed string) error {
	err := c.c.Rename(file(r.dir, name), claimed)
	if err == nil || !isReply(err) {
		return err
	}
	if merr := mkdirAll(c.c, r.procDir); merr != nil && !isReply(merr) {
		return merr
	}
	if err = c.c.Rename(file(r.dir, name), claimed); err != nil && isReply(err) && !r.warned[name] {
		r.warned[name] = true
		r.log.Warn("presa in carico non riuscita: il server rifiuta lo spostamento in "+r.procDir+"; verificare i permessi (claim refused)",
			"file", name, "err", err)
	}
	return err
}

// skip tells the files the receiver never takes: hidden and temporary names (uploads
// in progress) and .done markers (unless the pattern asks for them, as batch does).
func (r *receiver) skip(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".TEMP") {
		return true
	}
	if r.set.batch() && strings.HasPrefix(name, batch.PrefixOutcome+".") {
		return true // our own outcome files, when outcome_dir is the inbound folder
	}
	return strings.HasSuffix(name, ".done") && !strings.HasSuffix(r.set.pattern(), ".done")
}

func (r *receiver) warnName(name string, err error) {
	if r.warned[name] {
		return
	}
	r.warned[name] = true
	r.log.Warn("file remoto ignorato: nome non accettabile; il file resta sul server (remote file ignored: unacceptable name)",
		"file", strconv.Quote(name), "reason", err.Error())
}

func (r *receiver) tooLarge(size int64) string {
	return fmt.Sprintf("file di %d byte oltre il limite di %d: ridurre o dividere il file, o alzare max_size (file too large)", size, r.set.maxSize())
}

// handle downloads a claimed file, hands it to the sink and acknowledges it. Errors
// returned are failures of the connection (the cycle stops); a refusal of the sink
// leaves the file claimed for the next cycle.
func (r *receiver) handle(ctx context.Context, c *conn, sink channel.Sink, name, claimed string, size int64) error {
	if r.set.batch() {
		return r.handleBatch(ctx, c, sink, name, claimed, size)
	}
	var buf bytes.Buffer
	if size > 0 && size <= r.set.maxSize() {
		buf.Grow(int(size))
	}
	h := sha256.New()
	n, tooBig, err := retrieve(c.c, claimed, io.MultiWriter(&buf, h), r.set.maxSize())
	if err != nil {
		return fmt.Errorf("download di %s: %w", claimed, err)
	}
	if tooBig {
		r.tooBig[name] = true
		r.retryClaimed = true
		return fmt.Errorf("download di %s: oltre %d byte; il file sarà spostato in %s (file too large)", claimed, r.set.maxSize(), r.rejDir)
	}
	in := channel.Inbound{
		FileName: name,
		Data:     buf.Bytes(),
		DedupKey: r.keyBase + "/" + name + ":" + strconv.FormatInt(n, 10) + ":" + hex.EncodeToString(h.Sum(nil)),
		Source:   r.src + "/" + name,
		Headers:  map[string]string{"SourcePath": file(r.dir, name)},
	}
	defer c.protect()()
	acc, err := sink.Accept(ctx, in)
	if err != nil {
		r.retryClaimed = true
		r.log.Warn("file non consegnato allo store; resta in lavorazione e sarà ripreso (store refused the file; it stays claimed)", "file", name, "err", err)
		return nil
	}
	r.log.Info("file ricevuto via FTP (file received)", "file", name, "size", n, "message", acc.MessageID, "duplicate", acc.Duplicate)
	return r.ack(c, name, claimed)
}

// ack removes a committed file from the inbox: moved to the processed folder (a
// folder per day; processati/<name>.ok in batch mode) or deleted.
// The caller protects the connection from just before Sink.Accept until ack returns:
// once the store committed, the acknowledgement finishes even if the receiver is being
// stopped, so a clean shutdown leaves nothing to hand over twice.
func (r *receiver) ack(c *conn, name, claimed string) error {
	if r.set.After == "delete" {
		if err := c.c.Delete(claimed); err != nil && !isNotFound(err) {
			return r.ackFailed(name, err)
		}
		delete(r.pending, name)
		return nil
	}
	dir, target := r.doneDir, name+".ok"
	if !r.set.batch() {
		dir, target = join(r.doneDir, r.deps.Clock()().Format("2006-01-02")), name
	}
	if err := r.move(c, claimed, dir, target); err != nil {
		return r.ackFailed(name, err)
	}
	delete(r.pending, name)
	return nil
}

func (r *receiver) ackFailed(name string, err error) error {
	if !isReply(err) {
		return fmt.Errorf("conferma di %s: %w", name, err)
	}
	// The server refuses the move (permissions?): the file stays claimed and is handed
	// over again, recognised as a duplicate, until an operator fixes the folder.
	r.retryClaimed = true
	r.log.Warn("file consegnato allo store ma non spostato dalla cartella di lavorazione: verificare i permessi (file stored but not moved)",
		"file", name, "err", err)
	return nil
}

// move renames from into dir/target, creating dir when missing; when the server
// refuses to replace an existing target, the file gets a unique suffix.
func (r *receiver) move(c *conn, from, dir, target string) error {
	to := file(dir, target)
	err := c.c.Rename(from, to)
	if err == nil || !isReply(err) {
		return err
	}
	// The folder may be missing, or the server refuses to replace a file.
	if merr := mkdirAll(c.c, dir); merr != nil && !isReply(merr) {
		return merr
	}
	if err = c.c.Rename(from, to); err == nil || !isReply(err) {
		return err
	}
	return c.c.Rename(from, file(dir, target+"."+randHex(4)))
}

// reject moves a refused file to the rejected folder with <name>.errore.txt beside it
// saying why, so the ente's operator sees it where the file was.
func (r *receiver) reject(c *conn, name, from, reason string) error {
	r.log.Warn("file rifiutato e spostato in "+r.rejDir+" (file refused)", "file", name, "reason", reason)
	if err := r.move(c, from, r.rejDir, name); err != nil {
		if !isReply(err) {
			return err
		}
		r.log.Warn("file rifiutato ma non spostato: verificare i permessi (refused file could not be moved)", "file", name, "err", err)
		return nil
	}
	delete(r.pending, name)
	note := []byte(reason + "\n")
	if err := putAtomic(c, r.rejDir, name+".errore.txt", bytes.NewReader(note), r.set.tempSuffix(), r.set.createDirs()); err != nil && !isReply(err) {
		return err
	}
	return nil
}

// sorted returns the entries in name order, so files are taken in a predictable order.
func sorted(entries []*ftp.Entry) []*ftp.Entry {
	out := append([]*ftp.Entry(nil), entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ---- batch (IntermediaMarche) inbound ----

func (r *receiver) localDir() string {
	if r.deps.DataDir != "" {
		return filepath.Join(r.deps.DataDir, "incoming")
	}
	return os.TempDir()
}

// cleanLocal removes downloads left by a previous run.
func (r *receiver) cleanLocal() {
	if !r.set.batch() || r.deps.DataDir == "" {
		return
	}
	old, _ := filepath.Glob(filepath.Join(r.localDir(), "supporto-*.zip"))
	for _, f := range old {
		os.Remove(f)
	}
}

// handleBatch takes a supporto: download to a local file, check the zip against its
// quadratura, hand over each file, write the outcome (ET01), move the zip to
// processati/<name>.ok; or refuse it with an ET02 outcome and a reason file.
func (r *receiver) handleBatch(ctx context.Context, c *conn, sink channel.Sink, name, claimed string, size int64) error {
	if err := os.MkdirAll(r.localDir(), 0o750); err != nil {
		return fmt.Errorf("cartella locale %s: %w", r.localDir(), err)
	}
	f, err := os.CreateTemp(r.localDir(), "supporto-*.zip")
	if err != nil {
		return fmt.Errorf("file locale per %s: %w", name, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	h := sha256.New()
	received := r.deps.Clock()()
	n, tooBig, err := retrieve(c.c, claimed, io.MultiWriter(f, h), r.set.maxSize())
	if err != nil {
		return fmt.Errorf("download di %s: %w", claimed, err)
	}
	if tooBig {
		r.tooBig[name] = true
		r.retryClaimed = true
		return fmt.Errorf("download di %s: oltre %d byte (file too large)", claimed, r.set.maxSize())
	}
	zipSum := hex.EncodeToString(h.Sum(nil))
	chk, err := batch.Check(name, f, n, batch.Limits{MaxEntries: r.set.MaxEntries, MaxEntrySize: r.set.MaxEntrySize})
	var ref *batch.Refusal
	if errors.As(err, &ref) {
		return r.refuseBatch(c, name, claimed, received, ref.Reasons)
	}
	if err != nil {
		return fmt.Errorf("lettura di %s: %w", name, err)
	}
	for i, bf := range chk.Files {
		if i == len(chk.Files)-1 {
			// From the last hand-over to the acknowledgement, finish even if stopped.
			defer c.protect()()
		}
		data, err := bf.ReadAll()
		if err != nil {
			return fmt.Errorf("lettura di %s in %s: %w", bf.Name, name, err)
		}
		in := channel.Inbound{
			FileName: bf.Name,
			Data:     data,
			DedupKey: r.keyBase + "/" + name + ":" + zipSum + ":" + bf.Name,
			Source:   r.src + "/" + name + "#" + bf.Name,
			Headers: map[string]string{
				"SourcePath":   file(r.dir, name),
				"NomeSupporto": strings.TrimSuffix(name, batch.DoneSuffix),
				"TipoFile":     bf.Type.String(),
			},
		}
		if _, err := sink.Accept(ctx, in); err != nil {
			r.retryClaimed = true
			r.log.Warn("supporto non consegnato allo store; resta in lavorazione e sarà ripreso (store refused a file of the supporto)",
				"supporto", name, "file", bf.Name, "err", err)
			return nil
		}
	}
	if len(chk.Files) == 0 {
		defer c.protect()()
	}
	if err := r.writeOutcome(c, name, received, batch.ET01, nil); err != nil {
		return err
	}
	r.log.Info("supporto accettato (supporto accepted)", "supporto", name, "files", len(chk.Files), "outcome", batch.EsitoName(name))
	return r.ack(c, name, claimed)
}

// refuseBatch answers a supporto that failed the checks: ET02 outcome with the reasons
// in a comment, the zip moved to the rejected folder with <name>.errore.txt.
func (r *receiver) refuseBatch(c *conn, name, claimed string, received time.Time, reasons []string) error {
	if err := r.writeOutcome(c, name, received, batch.ET02, reasons); err != nil {
		return err
	}
	text := "Supporto " + name + " rifiutato (refused), esito ET02 in " + batch.EsitoName(name) + ":\n- " + strings.Join(reasons, "\n- ")
	return r.reject(c, name, claimed, text)
}

func (r *receiver) writeOutcome(c *conn, name string, received time.Time, esito string, reasons []string) error {
	e := &batch.Esito{
		IdentificativoNodo: r.set.nodo(),
		DataOraRicezione:   received,
		DataOraEsito:       r.deps.Clock()(),
		NomeSupporto:       strings.TrimSuffix(name, batch.DoneSuffix),
		Esito:              esito,
		Motivi:             reasons,
	}
	data, err := e.Marshal()
	if err != nil {
		return channel.Permanent(fmt.Errorf("esito di %s: %w", name, err))
	}
	eo := batch.EsitoName(name)
	if err := putAtomic(c, r.outDir, eo, bytes.NewReader(data), r.set.tempSuffix(), r.set.createDirs()); err != nil {
		return fmt.Errorf("esito %s: %w", eo, err)
	}
	return nil
}
