package sqlite

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// changes returns a channel that receives when a file of the database (the
// database, its -wal or -journal) is written, by any process, and is
// closed once the watch has ended; nil when inotify cannot be had. Where
// it is nil or closed, Wait polls. Close ends the watch.
func (s *Store) changes() <-chan struct{} {
	s.watchOnce.Do(func() {
		// Non-blocking, read through Go's poller: a read blocked in the
		// kernel would hold an OS thread in a system call, which the
		// runtime's monitor keeps looking at (see queue's awaitExit).
		fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
		if err != nil {
			return
		}
		dir, base := filepath.Split(s.path)
		if dir == "" {
			dir = "."
		}
		// The directory, not the files: the -wal file may not exist yet, or
		// be deleted and made again by another SQLite program.
		_, err = syscall.InotifyAddWatch(fd, dir, syscall.IN_MODIFY|syscall.IN_CREATE|syscall.IN_MOVED_TO)
		if err != nil {
			syscall.Close(fd)
			return
		}
		ch := make(chan struct{}, 1)
		s.watch = ch
		f := os.NewFile(uintptr(fd), "inotify")
		// Closing the file ends the reader waiting in the poller.
		s.unwatch = func() { f.Close() }
		go readChanges(f, []byte(base), ch)
	})
	return s.watch
}

// readChanges turns inotify events about the database's files into
// wake-ups on ch, coalesced. It closes ch when it ends: when f is closed,
// the watch removed, or a read fails (EAGAIN where the poller refused the
// descriptor).
func readChanges(f *os.File, base []byte, ch chan<- struct{}) {
	defer close(ch)
	defer f.Close()
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&syscall.IN_IGNORED != 0 {
				return // the watch was removed (the directory is gone)
			}
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
