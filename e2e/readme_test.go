package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"parley/internal/dbtest"
)

// readmeAPI is the line of the README's walkthrough that points it at
// make run's server; the test points it at its own.
const readmeAPI = "API=http://localhost:8080/api/v1"

// TestREADME_Walkthrough runs the README's curl walkthrough, and its
// example of an error, as written against a fresh server, in one bash
// session, and checks that each block prints what its "# …" comments say,
// in order ("…" standing for anything). Lines the comments do not show,
// such as a pretty-printed jq object, may come in between.
func TestREADME_Walkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: the walkthrough needs it", tool)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := walkthroughBlocks(t, string(readme))
	srv := startParley(t, "parley", serverConfig{DSN: dbtest.DSN(t)})

	var script strings.Builder
	for i, b := range blocks {
		if i > 0 {
			script.WriteString("echo '" + blockMark + "'\n")
		}
		script.WriteString(b + "\n")
	}
	src := strings.Replace(script.String(), readmeAPI, "API="+srv.URL+"/api/v1", 1)
	cmd := exec.Command("bash", "-c", src)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, stderr.String())
	}
	outputs := strings.Split(string(out), blockMark+"\n")
	if len(outputs) != len(blocks) {
		t.Fatalf("got the output of %d blocks, want %d:\n%s", len(outputs), len(blocks), out)
	}
	for i, b := range blocks {
		checkBlock(t, b, outputs[i])
	}
}

// blockMark separates the outputs of the walkthrough's blocks.
const blockMark = "@@ next README block @@"

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// walkthroughBlocks returns the sh blocks of the README from its curl
// walkthrough to the end of its Errors section.
func walkthroughBlocks(t *testing.T, readme string) []string {
	t.Helper()
	start := strings.Index(readme, "## A walkthrough with curl")
	errors := strings.Index(readme, "## Errors")
	if start < 0 || errors < start {
		t.Fatal("README: no walkthrough section followed by an Errors section")
	}
	end := strings.Index(readme[errors+1:], "\n## ")
	if end < 0 {
		t.Fatal("README: no section after Errors")
	}
	var blocks []string
	for _, m := range shBlock.FindAllStringSubmatch(readme[start:errors+1+end], -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) == 0 || !strings.Contains(blocks[0], readmeAPI) {
		t.Fatalf("README: the walkthrough's first block must set %s", readmeAPI)
	}
	return blocks
}

// checkBlock fails the test unless out holds the lines block's comments
// show, in order.
func checkBlock(t *testing.T, block, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range strings.Split(block, "\n") {
		want, ok := strings.CutPrefix(l, "# ")
		if !ok {
			continue
		}
		pattern := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(want), "…", ".*") + "$")
		for {
			if len(lines) == 0 {
				t.Errorf("README block\n%s\ndoes not print %q; it printed:\n%s", block, want, out)
				return
			}
			got := lines[0]
			lines = lines[1:]
			if pattern.MatchString(got) {
				break
			}
		}
	}
}
