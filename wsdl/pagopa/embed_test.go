package pagopawsdl

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func TestCopyMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(PaForNode)
	if want := "`paForNode.wsdl` | `" + hex.EncodeToString(sum[:]) + "`"; !strings.Contains(string(readme), want) {
		t.Fatalf("README does not list paForNode.wsdl with sha256 %x", sum)
	}
}
