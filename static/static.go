// Package static holds the files the server serves at /: the web app built
// from web/ (in app/, written by `npm run build` there, which make run and
// make test call), the page served in its place when the binary was built
// without it (index.html), and, under docs/, the offline API documentation.
// It imports only the standard library.
package static

import (
	"embed"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// app/.keep is committed so that the embed compiles before the web app is
// built (go build works without Node); the build itself is not committed.
//
//go:embed index.html docs all:app
var files embed.FS

// FS is the tree served at /: the built web app's files over the others, so
// its index.html replaces the fallback page when it was built.
var FS fs.FS = overlay{}

// AppBuilt reports whether the binary embeds the built web app; without it,
// / serves a page that says how to build it.
func AppBuilt() bool {
	_, err := fs.Stat(files, "app/index.html")
	return err == nil
}

// overlay looks a name up in app/ first, then at the root; app/ itself is
// not reachable by its own name.
type overlay struct{}

func (overlay) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "app" || strings.HasPrefix(name, "app/") || path.Base(name) == ".keep" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if name != "." {
		f, err := files.Open(path.Join("app", name))
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return files.Open(name)
}
