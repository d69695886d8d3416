package state

// NewTable is a typed table over the bucket named bucket of s, for the
// parts of the control plane that keep tables of their own (Batch's
// queues and jobs) on the same store, with the same revisions, watchers
// and error classes as the cluster's. The bucket is created on first use
// with the store's replica count.
func NewTable[T any](s *Store, bucket string) Table[T] { return Table[T]{s: s, name: bucket} }
