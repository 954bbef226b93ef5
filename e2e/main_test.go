package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// raceEnabled is set when the tests run with -race (race_test.go).
var raceEnabled bool

// parleyBin is the parley binary that TestMain builds for every test.
var parleyBin string

// TestMain builds ./cmd/parley once into a temporary directory.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	parleyBin = filepath.Join(dir, "parley")
	args := []string{"build", "-o", parleyBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "parley/cmd/parley")
	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %v: %v\n", args, err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built parley (race %v) in %s\n", raceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}
