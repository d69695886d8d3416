package main

import (
	"archive/zip"
	"io"
)

// newZip returns a function that writes data as an executable `bootstrap`
// into a zip on w and closes the archive.
func newZip(w io.Writer) func(data []byte) {
	return func(data []byte) {
		zw := zip.NewWriter(w)
		h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
		h.SetMode(0o755)
		f, err := zw.CreateHeader(h)
		check(err)
		_, err = f.Write(data)
		check(err)
		check(zw.Close())
	}
}
