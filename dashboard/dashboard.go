// Package dashboard holds the web page every node serves on its API
// address and the state behind it: the newest readings per sensor, a
// fan-out of live events, and a layout of the network diagram. The page
// is plain HTML, CSS and JavaScript embedded in the binary, so it works
// with no Internet connection.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy lets the page load its own files only and talk to
// its own node only. Images may come from anywhere because the user may
// configure a map background of their choosing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob: *; " +
	"connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Files returns the page's static files: index.html, app.js and app.css.
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		// The embedded tree is fixed at build time, and TestFiles checks
		// that it has the static folder.
		panic("dashboard: embedded files missing: " + err.Error())
	}
	return sub
}

// Handler serves the static files under prefix, which must end in "/", and
// index.html for the prefix itself.
func Handler(prefix string) http.Handler {
	fileServer := http.StripPrefix(prefix, http.FileServerFS(Files()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		fileServer.ServeHTTP(w, r)
	})
}

// Index serves index.html.
func Index(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	http.ServeFileFS(w, r, Files(), "index.html")
}

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The files change only with the binary, and a node upgraded in the
	// field must not keep serving a page that expects the old API.
	h.Set("Cache-Control", "no-cache")
}
