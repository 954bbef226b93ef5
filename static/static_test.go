package static_test

import (
	"errors"
	"io/fs"
	"testing"

	"parley/static"
)

// TestFS: the docs and an index.html are always there (the built app's or,
// without it, the fallback page), and the app's folder is not reachable by
// its own name.
func TestFS(t *testing.T) {
	for _, name := range []string{"index.html", "docs/index.html", "docs/init.js"} {
		if _, err := fs.Stat(static.FS, name); err != nil {
			t.Errorf("stat %s: %v", name, err)
		}
	}
	for _, name := range []string{"app", "app/index.html", "app/.keep", ".keep"} {
		if _, err := fs.Stat(static.FS, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s: got %v, want not found", name, err)
		}
	}
	index, err := fs.ReadFile(static.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	built, _ := fs.ReadFile(static.FS, "favicon.svg")
	if static.AppBuilt() != (built != nil) {
		t.Errorf("AppBuilt() = %v, but favicon.svg found: %v (index.html: %.80q)", static.AppBuilt(), built != nil, index)
	}
}
