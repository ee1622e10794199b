package message

import (
	"sort"
	"testing"
	"time"
)

func TestIDsSortByTimeAndAreUnique(t *testing.T) {
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	seen := map[ID]bool{}
	var ids []string
	for i := 0; i < 1000; i++ {
		id := newIDAt(base.Add(time.Duration(i) * time.Millisecond))
		if !Valid(string(id)) {
			t.Fatalf("%q is not a valid id", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, string(id))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids created in time order do not sort in that order")
	}
	if Valid("not-an-id") || Valid("0123456789abcdefghjkmnpqrU") {
		t.Fatal("Valid accepted a malformed id")
	}
}
