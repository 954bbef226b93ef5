// Package static holds the files the server serves at /: the web app (for
// now a placeholder page) and, under docs/, the offline API documentation.
// It imports only the standard library.
package static

import (
	"embed"
	"io/fs"
)

//go:embed index.html docs
var files embed.FS

// FS is the tree served at /, with index.html at its root.
var FS fs.FS = files
