package xsd

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"runtime/cgo"
	"strings"
	"unsafe"
)

// loadState is what one compilation's loader may serve, and what it refused.
type loadState struct {
	fsys       fs.FS
	locations  map[string]string // absolute URL -> path in fsys
	unresolved []string
	allocs     []unsafe.Pointer // C copies handed to libxml2, freed after the compilation
}

func (st *loadState) freeAll() {
	for _, p := range st.allocs {
		C.free(p)
	}
	st.allocs = nil
}

// resolve maps a URL libxml2 asks for to a path of the schema FS.
func (st *loadState) resolve(u string) (string, error) {
	if rest, ok := strings.CutPrefix(u, baseScheme); ok {
		p, err := url.PathUnescape(rest)
		if err != nil || !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("URL non valido (invalid URL)")
		}
		p = p[1:]
		if !fs.ValidPath(p) {
			return "", fmt.Errorf("percorso fuori dal file system degli schemi (path outside the schema FS)")
		}
		return p, nil
	}
	if p, ok := st.locations[u]; ok {
		return p, nil
	}
	return "", fmt.Errorf("indirizzo assoluto non mappato: aggiungere il file e WithLocation (unmapped absolute location: add the file and WithLocation)")
}

// snodoXSDLoad serves one schema file to libxml2 during a compilation on this thread.
// It returns 0 (and records why) when the URL does not resolve inside the FS.
//
//export snodoXSDLoad
func snodoXSDLoad(h C.uintptr_t, curl *C.char, data **C.char, size *C.int, canon **C.char) C.int {
	st, ok := cgo.Handle(h).Value().(*loadState)
	if !ok {
		return 0
	}
	u := C.GoString(curl)
	p, err := st.resolve(u)
	if err == nil {
		var b []byte
		b, err = fs.ReadFile(st.fsys, p)
		if err == nil && len(b) > math.MaxInt32/2 {
			err = fmt.Errorf("file troppo grande (file too large)")
		}
		if err == nil {
			d := C.CBytes(append(b, 0)) // NUL-terminated for any libxml2 that wants it
			c := C.CString(fsURL(p))
			st.allocs = append(st.allocs, d, unsafe.Pointer(c))
			*data, *size, *canon = (*C.char)(d), C.int(len(b)), c
			return 1
		}
	}
	st.unresolved = append(st.unresolved, fmt.Sprintf("%s: %v", displayURL(u), err))
	return 0
}

func displayURL(u string) string {
	if rest, ok := strings.CutPrefix(u, baseScheme+"/"); ok {
		if p, err := url.PathUnescape(rest); err == nil {
			return p
		}
	}
	return u
}
