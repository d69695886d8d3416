//go:build !wharfd_embed

package main

// embeddedDaemon reports that this binary carries no daemon: `wharf
// daemon` looks for a wharfd beside it instead.
func embeddedDaemon() (data []byte, digest string, ok bool) { return nil, "", false }
