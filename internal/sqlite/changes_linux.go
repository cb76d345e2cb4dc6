package sqlite

import (
	"bytes"
	"path/filepath"
	"syscall"
	"unsafe"
)

// changes returns a channel that receives when a file of the database (the
// database, its -wal or -journal) is written, by any process; nil when
// inotify cannot be had (then Wait polls). The watch lives as long as the
// process: a store is opened once per command.
func (s *Store) changes() <-chan struct{} {
	s.watchOnce.Do(func() {
		fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
		if err != nil {
			return
		}
		dir, base := filepath.Split(s.path)
		if dir == "" {
			dir = "."
		}
		// The directory, not the files: the -wal file may not exist yet, or
		// be deleted and made again by another SQLite program.
		if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MODIFY|syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
			syscall.Close(fd)
			return
		}
		ch := make(chan struct{}, 1)
		s.watch = ch
		go readChanges(fd, []byte(base), ch)
	})
	return s.watch
}

// readChanges turns inotify events about the database's files into
// wake-ups on ch, coalesced.
func readChanges(fd int, base []byte, ch chan<- struct{}) {
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if bytes.HasPrefix(name, base) {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}
}
