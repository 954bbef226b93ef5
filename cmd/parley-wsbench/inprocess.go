package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
)

// With -inprocess this process serves the instance itself
// (bench/inprocess), so -cpuprofile and -memprofile show where a server's
// CPU and memory go. Client goroutines carry the pprof label wsbench=client,
// so `go tool pprof -tagignore wsbench=client` shows the server alone in CPU
// and goroutine profiles; in heap profiles, the client's allocations are
// under main.(*client).

// runtimeSample is this process's memory after a full GC.
type runtimeSample struct {
	goroutines int
	heapInuse  uint64
	stackInuse uint64
	sys        uint64
}

func sampleRuntime() runtimeSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtimeSample{goroutines: runtime.NumGoroutine(), heapInuse: m.HeapInuse, stackInuse: m.StackInuse, sys: m.Sys}
}

// clientLabels marks a client's read goroutine for pprof.
var clientLabels = pprof.Labels("wsbench", "client")

// memoryInProcess reports the in-process instance's memory per idle
// connection as the Go runtime sees it (this process holds the clients too:
// one goroutine, a 4 KiB bufio.Reader and a socket each), and writes the
// heap and goroutine profiles while the connections are open.
func (b *bench) memoryInProcess(ctx context.Context, clients []*client, before runtimeSample) {
	const sc = "memory"
	n := len(clients)
	after := sampleRuntime()
	per := func(a, b uint64) string { return fmt.Sprintf("%.1f KiB", float64(int64(a)-int64(b))/float64(n)/1024) }
	b.row(sc, "in-process: goroutines per connection (srv+client)", fmt.Sprintf("%.2f", float64(after.goroutines-before.goroutines)/float64(n)), "", nil)
	b.row(sc, "in-process: heap in use per connection (srv+client)", per(after.heapInuse, before.heapInuse), "", nil)
	b.row(sc, "in-process: stacks per connection (srv+client)", per(after.stackInuse, before.stackInuse), "", nil)
	b.row(sc, "in-process: runtime Sys per connection (srv+client)", per(after.sys, before.sys), "", nil)
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	stackStart := uint64(0)
	if start[0].Value.Kind() == metrics.KindUint64 {
		stackStart = start[0].Value.Uint64()
	}
	b.row(sc, "in-process: a new goroutine's stack (bytes)", fmt.Sprintf("%d", stackStart), "", nil)
	b.machine(sc+"-inprocess", "conns", n, "stack_starting_size", stackStart, "goroutines_before", before.goroutines, "goroutines_after", after.goroutines,
		"heap_inuse_before", before.heapInuse, "heap_inuse_after", after.heapInuse,
		"stack_inuse_before", before.stackInuse, "stack_inuse_after", after.stackInuse,
		"sys_before", before.sys, "sys_after", after.sys)
	for _, p := range []struct{ name, file string }{{"heap", b.o.memProfile}, {"goroutine", b.o.goroutineProfile}} {
		if p.file == "" {
			continue
		}
		f, err := os.Create(p.file)
		if err == nil {
			err = pprof.Lookup(p.name).WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			b.logf("write %s profile: %v", p.name, err)
		}
	}
}
