package xslt

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

// loadState is what one CompileFS's loader may serve, and what it refused.
type loadState struct {
	fsys       fs.FS
	unresolved []string
	allocs     []unsafe.Pointer // C copies handed to libxml2, freed after the compilation
}

func (st *loadState) freeAll() {
	for _, p := range st.allocs {
		C.free(p)
	}
	st.allocs = nil
}

// snodoXSLTLoad serves one stylesheet module to libxslt during a CompileFS on this
// thread. It returns 0 (and records why) when the URL does not resolve inside the FS.
//
//export snodoXSLTLoad
func snodoXSLTLoad(h C.uintptr_t, curl *C.char, data **C.char, size *C.int, canon **C.char) C.int {
	st, ok := cgo.Handle(h).Value().(*loadState)
	if !ok {
		return 0
	}
	u := C.GoString(curl)
	p, err := url.PathUnescape(strings.TrimPrefix(u, baseScheme+"/"))
	if err != nil || !fs.ValidPath(p) {
		st.unresolved = append(st.unresolved, fmt.Sprintf("%s: percorso fuori dal file system (path outside the FS)", u))
		return 0
	}
	b, err := fs.ReadFile(st.fsys, p)
	if err == nil && len(b) > math.MaxInt32/2 {
		err = fmt.Errorf("file troppo grande (file too large)")
	}
	if err != nil {
		st.unresolved = append(st.unresolved, fmt.Sprintf("%s: %v", p, err))
		return 0
	}
	d := C.CBytes(append(b, 0))
	c := C.CString(fsURL(p))
	st.allocs = append(st.allocs, d, unsafe.Pointer(c))
	*data, *size, *canon = (*C.char)(d), C.int(len(b)), c
	return 1
}
