package main

import (
	"io"
	"sync"
	"time"
)

// Batching of log output: serve logs a line per request, and each line was
// a write system call of its own, which on make bench's 2-CPU machine costs
// several microseconds when that machine is busy (more where stderr is a
// pipe whose reader must be woken). Lines are held for at most
// logFlushDelay, or until logFlushBytes are waiting.
const (
	logFlushDelay = 100 * time.Millisecond
	logFlushBytes = 32 << 10
)

// logWriter collects whole log lines (slog writes each record with one
// Write) and writes them to w in batches: logFlushDelay after the first
// line that is waiting, as soon as logFlushBytes are waiting, and on Close.
// It is safe for concurrent use. Failed writes are dropped: a log has
// nowhere to report its own failure.
type logWriter struct {
	w     io.Writer
	delay time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // armed while buf holds lines
	closed bool
}

func newLogWriter(w io.Writer, delay time.Duration) *logWriter {
	lw := &logWriter{w: w, delay: delay}
	lw.timer = time.AfterFunc(time.Hour, lw.flush)
	lw.timer.Stop()
	return lw
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		_, _ = lw.w.Write(p)
		return len(p), nil
	}
	if len(lw.buf) == 0 {
		lw.timer.Reset(lw.delay)
	}
	lw.buf = append(lw.buf, p...)
	if len(lw.buf) >= logFlushBytes {
		lw.flushLocked()
	}
	return len(p), nil
}

func (lw *logWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.flushLocked()
}

func (lw *logWriter) flushLocked() {
	lw.timer.Stop()
	if len(lw.buf) == 0 {
		return
	}
	_, _ = lw.w.Write(lw.buf)
	if cap(lw.buf) > 2*logFlushBytes { // one huge line
		lw.buf = nil
	} else {
		lw.buf = lw.buf[:0]
	}
}

// Close writes out what is waiting; later lines are written at once.
func (lw *logWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.flushLocked()
	lw.closed = true
	return nil
}
