package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// With -debug-url, the profiles come from the first instance's private
// debug listener (serve's PARLEY_DEBUG_ADDR): the real binary under the
// real load, with none of this process's own work mixed in.

// startCPUProfile fetches a CPU profile of the first -cpuprofile-seconds of
// the run into -cpuprofile; the returned wait returns once it is written.
func (b *bench) startCPUProfile(ctx context.Context) (wait func()) {
	if b.o.cpuProfile == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path := fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(b.o.cpuDuration.Seconds()))
		if err := fetchProfile(ctx, b.o.debugURL+path, b.o.cpuProfile); err != nil {
			b.logf("CPU profile: %v", err)
		}
	}()
	return func() { <-done }
}

// writeProfiles fetches the first instance's heap and goroutine profiles
// into -memprofile and -goroutineprofile.
func (b *bench) writeProfiles(ctx context.Context) {
	for _, p := range []struct{ name, file string }{{"heap", b.o.memProfile}, {"goroutine", b.o.goroutineProfile}} {
		if p.file == "" {
			continue
		}
		if err := fetchProfile(ctx, b.o.debugURL+"/debug/pprof/"+p.name, p.file); err != nil {
			b.logf("%s profile: %v", p.name, err)
		}
	}
}

// fetchProfile GETs a profile from url into the file at path.
func fetchProfile(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
