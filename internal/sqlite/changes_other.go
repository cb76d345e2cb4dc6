//go:build !linux

package sqlite

// changes: without inotify, Wait polls.
func (s *Store) changes() <-chan struct{} { return nil }
