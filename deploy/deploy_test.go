// Package deploy_test checks the shipping files without a container
// engine: the Dockerfile's build command yields a static binary, and
// compose.yaml is valid and holds the topology it promises.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The image's binary is built by the Dockerfile's own go build line, run
// here as written but for the output path, and must be static: the final
// stage (distroless/static) has no C library.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	var build string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, " go build ") {
			build = strings.TrimPrefix(line, "RUN ")
		}
	}
	if build == "" || !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "-o /out/parley ./cmd/parley") {
		t.Fatalf("Dockerfile: no RUN line building ./cmd/parley with CGO_ENABLED=0 into /out/parley: %q", build)
	}
	stages := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(text, -1)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(stages))
	}
	final := text[stages[len(stages)-1][0]:]
	for _, want := range []string{"COPY --from=build /out/parley /usr/local/bin/parley", "USER nonroot", `ENTRYPOINT ["/usr/local/bin/parley"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}

	out := filepath.Join(t.TempDir(), "parley")
	cmd := exec.Command("sh", "-c", strings.Replace(build, "/out/parley", out, 1))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=test")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a program interpreter: dynamically linked, want static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs %v, want none", libs)
	}
	if v, err := exec.Command(out, "version").CombinedOutput(); err != nil || !bytes.Contains(v, []byte("test")) {
		t.Errorf("parley version: %q, %v; want the version given at build", v, err)
	}
}

// compose.yaml is valid for docker-compose, needs its secrets given rather
// than defaulting them, and holds the topology deploy/README.md describes.
func TestCompose(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("PARLEY_TEST_DOCKER_COMPOSE")
	if bin == "" {
		t.Fatal("PARLEY_TEST_DOCKER_COMPOSE is not set; run the tests with make test")
	}
	compose := func(env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(bin, append([]string{"-f", "compose.yaml"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Logf("docker-compose %v: %s", args, stderr.String())
		}
		return out, err
	}
	secrets := []string{"PARLEY_JWT_SECRET=test-secret-test-secret-test-secret", "POSTGRES_PASSWORD=pw"}

	if _, err := compose(secrets, "config", "-q"); err != nil {
		t.Fatalf("docker-compose config -q: %v", err)
	}
	if _, err := compose(secrets[1:], "config", "-q"); err == nil {
		t.Error("config without PARLEY_JWT_SECRET: got valid, want an error (no default secret)")
	}

	out, err := compose(secrets, "config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []any             `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range cfg.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"api1", "api2", "nginx", "postgres", "redis", "worker"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for name, cmd := range map[string]string{"api1": "serve", "api2": "serve", "worker": "worker"} {
		s := cfg.Services[name]
		if s.Image != "parley:latest" || !slices.Equal(s.Command, []string{cmd}) {
			t.Errorf("%s: image %q command %v, want parley:latest %s", name, s.Image, s.Command, cmd)
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes ports %v: only nginx may be reachable", name, s.Ports)
		}
		for _, env := range []string{"DATABASE_URL", "REDIS_URL", "PARLEY_JWT_SECRET"} {
			if s.Environment[env] == "" {
				t.Errorf("%s: %s not set", name, env)
			}
		}
		if s.Environment["PARLEY_TRUST_PROXY"] != "true" {
			t.Errorf("%s: PARLEY_TRUST_PROXY %q, want true behind nginx", name, s.Environment["PARLEY_TRUST_PROXY"])
		}
	}
	if len(cfg.Services["nginx"].Ports) != 1 {
		t.Errorf("nginx ports %v, want 8080 only", cfg.Services["nginx"].Ports)
	}
}
