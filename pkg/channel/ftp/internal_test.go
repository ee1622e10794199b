package ftp

import (
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	cases := []struct {
		poll     time.Duration
		n        int
		min, max time.Duration
	}{
		{10 * time.Second, 1, 10 * time.Second, 12 * time.Second},
		{10 * time.Second, 2, 20 * time.Second, 24 * time.Second},
		{10 * time.Second, 5, 120 * time.Second, 144 * time.Second},
		{10 * time.Second, 500, 120 * time.Second, 144 * time.Second},
		{5 * time.Minute, 3, 5 * time.Minute, 6 * time.Minute},
		{20 * time.Millisecond, 1, 20 * time.Millisecond, 24 * time.Millisecond},
	}
	for _, c := range cases {
		for range 20 {
			if got := backoff(c.poll, c.n); got < c.min || got > c.max {
				t.Fatalf("backoff(%s, %d) = %s, want within [%s, %s]", c.poll, c.n, got, c.min, c.max)
			}
		}
	}
}

func TestRemotePaths(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/in": "in", "/in/fatture/": "in/fatture", "//in": "/in", "//": "/"} {
		if got := baseDir(in); got != want {
			t.Errorf("baseDir(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range [][3]string{
		{"in", "", "in"}, {"in", ".processing", "in/.processing"}, {"in", "/archivio", "/archivio"},
		{"in", "../esiti", "esiti"}, {"", "processed", "processed"}, {"/in", "../../x", "/x"},
		{"a/b", "../../../x", "../x"}, {"in", "./a//b/", "in/a/b"},
	} {
		if got := join(c[0], c[1]); got != c[2] {
			t.Errorf("join(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	for _, c := range [][3]string{{"", "a", "a"}, {"/", "a", "/a"}, {"in", "a", "in/a"}, {"/in", "a", "/in/a"}} {
		if got := file(c[0], c[1]); got != c[2] {
			t.Errorf("file(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
	if n := tempName("IT01234567890_00001.xml", false); !strings.HasPrefix(n, ".IT01234567890_00001.xml.") || !strings.HasSuffix(n, ".tmp") {
		t.Errorf("dot temp name %q", n)
	}
	if n := tempName("a.xml", true); n != "a.xml.TEMP" {
		t.Errorf("suffix temp name %q", n)
	}
	if n := tempName(strings.Repeat("x", 250), false); len(n) > 255 || !strings.HasPrefix(n, ".snodo.") {
		t.Errorf("temp name of a long name: %q", n)
	}
}
