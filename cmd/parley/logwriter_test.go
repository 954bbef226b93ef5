package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer that records each Write and signals it.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	wrote  chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogWriter(t *testing.T) {
	t.Parallel()
	t.Run("CloseWritesWhatWaits", func(t *testing.T) {
		t.Parallel()
		out := newSyncBuffer()
		lw := newLogWriter(out, time.Hour)
		for i := range 3 {
			fmt.Fprintf(lw, "line %d\n", i)
		}
		if got := out.String(); got != "" {
			t.Fatalf("before the delay and Close, the output holds %q, want nothing yet", got)
		}
		_ = lw.Close()
		if got, want := out.String(), "line 0\nline 1\nline 2\n"; got != want || out.writes != 1 {
			t.Errorf("after Close, got %q in %d writes, want %q in 1", got, out.writes, want)
		}
		fmt.Fprintf(lw, "late\n")
		if got := out.String(); !strings.HasSuffix(got, "late\n") {
			t.Errorf("a line after Close was not written at once: the output is %q", got)
		}
	})
	t.Run("AfterDelay", func(t *testing.T) {
		t.Parallel()
		out := newSyncBuffer()
		lw := newLogWriter(out, 10*time.Millisecond)
		defer lw.Close()
		fmt.Fprintf(lw, "soon\n")
		select {
		case <-out.wrote:
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting line was not written within 10s of a 10ms delay")
		}
		if got := out.String(); got != "soon\n" {
			t.Errorf("got %q, want %q", got, "soon\n")
		}
	})
	t.Run("WhenFull", func(t *testing.T) {
		t.Parallel()
		out := newSyncBuffer()
		lw := newLogWriter(out, time.Hour)
		defer lw.Close()
		line := strings.Repeat("x", 1023) + "\n"
		for range logFlushBytes / len(line) {
			_, _ = lw.Write([]byte(line))
		}
		if got := len(out.String()); got != logFlushBytes {
			t.Errorf("with %d bytes waiting, %d were written, want all of them", logFlushBytes, got)
		}
	})
	t.Run("ConcurrentLinesStayWhole", func(t *testing.T) {
		t.Parallel()
		out := newSyncBuffer()
		lw := newLogWriter(out, time.Millisecond)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 500 {
					fmt.Fprintf(lw, "writer %d line %d\n", g, i)
				}
			})
		}
		wg.Wait()
		_ = lw.Close()
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		seen := map[string]bool{}
		for _, l := range lines {
			var g, i int
			if _, err := fmt.Sscanf(l, "writer %d line %d", &g, &i); err != nil {
				t.Fatalf("a broken line %q", l)
			}
			seen[l] = true
		}
		if len(lines) != 8*500 || len(seen) != 8*500 {
			t.Errorf("got %d lines (%d different), want %d", len(lines), len(seen), 8*500)
		}
	})
}
