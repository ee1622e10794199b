package sim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"snodo/pkg/sdi"
)

// state is what survives a restart: the next IdentificativoSdI and the names of the
// files received (for the duplicate-name check, 00002). With no folder it lives in
// memory.
type state struct {
	mu    sync.Mutex
	dir   string
	next  int64
	names map[string]bool
	log   *os.File // names.txt, append-only
}

const (
	counterFile = "identificativo-sdi"
	namesFile   = "nomi-file.txt"
)

func openState(dir string, first int64) (*state, error) {
	st := &state{dir: dir, next: first, names: map[string]bool{}}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sim: cartella di stato %s: %w", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, counterFile)); err == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("sim: %s illeggibile (%q): correggere o cancellare il file (unreadable counter)", filepath.Join(dir, counterFile), strings.TrimSpace(string(b)))
		}
		st.next = max(n, first)
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("sim: %w", err)
	}
	path := filepath.Join(dir, namesFile)
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if n := strings.TrimSpace(sc.Text()); n != "" {
				st.names[n] = true
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("sim: %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	st.log = f
	return st, nil
}

// nextID hands out the next identifier, persisted (written and synced) before it is
// returned, so a restart never gives the same one twice.
func (st *state) nextID() (sdi.IdentificativoSdI, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := st.next
	if st.dir != "" {
		tmp := filepath.Join(st.dir, counterFile+".tmp")
		if err := writeSync(tmp, []byte(strconv.FormatInt(id+1, 10)+"\n")); err != nil {
			return "", fmt.Errorf("sim: salvataggio del contatore (saving the counter): %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(st.dir, counterFile)); err != nil {
			return "", fmt.Errorf("sim: salvataggio del contatore (saving the counter): %w", err)
		}
	}
	st.next = id + 1
	return sdi.FromInt64(id), nil
}

// addName records a received file name; it reports false when the name was seen.
func (st *state) addName(name string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.names[name] {
		return false, nil
	}
	if st.log != nil {
		if _, err := st.log.WriteString(name + "\n"); err != nil {
			return false, err
		}
		if err := st.log.Sync(); err != nil {
			return false, err
		}
	}
	st.names[name] = true
	return true, nil
}

func (st *state) close() error {
	if st.log != nil {
		return st.log.Close()
	}
	return nil
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
