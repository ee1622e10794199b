// Package pagopaxsd embeds the official pagoPA paForNode schemas, byte-for-byte copies of
// the spec pack (provenance and sha256 in README.md), so the hub and its tests validate
// paForNode messages offline from the binary.
package pagopaxsd

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing/fstest"
)

// FS holds the schemas at its root, under the names below.
//
//go:embed *.xsd
var FS embed.FS

// Schema files in FS.
const (
	// PaForNode is the schema of the paForNode messages (request and response elements).
	PaForNode = "paForNode.xsd"
	// CommonTypes is sac-common-types-1.0.xsd, imported by PaForNode.
	CommonTypes = "sac-common-types-1.0.xsd"
)

// upstream is where each file sits in pagopa/pagopa-api, relative to the repository root;
// PaForNode imports CommonTypes as ../../xsd-common/sac-common-types-1.0.xsd.
var upstream = map[string]string{
	PaForNode:   "wsdl/xsd/paForNode.xsd",
	CommonTypes: "xsd-common/sac-common-types-1.0.xsd",
}

// TreePaForNode is the path of paForNode.xsd in Tree.
const TreePaForNode = "wsdl/xsd/paForNode.xsd"

// Tree returns the schemas in the upstream layout, for snodo/pkg/xsd:
// xsd.Compile(pagopaxsd.Tree(), pagopaxsd.TreePaForNode).
func Tree() fs.FS {
	m := fstest.MapFS{}
	for name, rel := range upstream {
		data, err := FS.ReadFile(name)
		if err != nil {
			panic("pagopaxsd: embedded file missing: " + name)
		}
		m[rel] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	return m
}

// WriteTree writes the schemas under dir in the upstream layout and returns the path of
// paForNode.xsd, ready for a validator that resolves imports from the file system.
func WriteTree(dir string) (string, error) {
	for name, rel := range upstream {
		data, err := FS.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("pagopaxsd: read %s: %w", name, err)
		}
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("pagopaxsd: write %s: %w", path, err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", fmt.Errorf("pagopaxsd: write %s: %w", path, err)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(upstream[PaForNode])), nil
}
