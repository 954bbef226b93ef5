package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// upstreamHeader is a response header that the tests' copy of
// deploy/nginx.conf adds, naming the instance that served the request, so a
// test can tell where nginx sent each client. Production has no use for it.
const upstreamHeader = "X-Parley-Upstream"

// servedBy returns the instance that finally served a request, from the
// value of upstreamHeader: nginx's $upstream_addr lists every instance it
// tried, comma-separated, when the first ones failed.
func servedBy(upstreams string) string {
	if i := strings.LastIndex(upstreams, ","); i >= 0 {
		return strings.TrimSpace(upstreams[i+1:])
	}
	return strings.TrimSpace(upstreams)
}

// proxy is nginx running deploy/nginx.conf in front of some instances.
type proxy struct {
	*proc
	Addr string // host:port nginx listens on
	URL  string // http://Addr
	dir  string
}

// startNginx runs $PARLEY_TEST_NGINX with deploy/nginx.conf, its listen
// address and upstream servers replaced to point at backends, and waits
// until a request passes through it. It stops nginx when tb ends.
func startNginx(tb testing.TB, backends ...*instance) *proxy {
	tb.Helper()
	bin, tmpl := nginxAndConf(tb)
	var addrs []string
	for _, b := range backends {
		addrs = append(addrs, b.Addr)
	}

	// A port picked now may be taken before nginx binds it; try again then.
	for attempt := 1; ; attempt++ {
		dir := tb.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
		conf, err := nginxConf(string(tmpl), dir, addr, addrs, os.Geteuid() == 0)
		if err != nil {
			tb.Fatalf("deploy/nginx.conf: %v", err)
		}
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			tb.Fatalf("write nginx.conf: %v", err)
		}
		// -e: the error log until the configuration's own is open.
		cmd := exec.Command(bin, "-c", path, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
		p := startProc(tb, "nginx", cmd, false)
		px := &proxy{proc: p, Addr: addr, URL: "http://" + addr, dir: dir}
		if ok := px.waitUp(tb); ok {
			tb.Cleanup(func() {
				if tb.Failed() {
					if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil && len(b) > 0 {
						tb.Logf("--- nginx error.log:\n%s", lastLines(string(b), 100))
					}
				}
			})
			return px
		}
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		if attempt < 3 && strings.Contains(string(errLog)+p.out.tail(20), "Address already in use") {
			continue
		}
		tb.Fatalf("nginx did not start: %s\n%s", p.out.tail(20), lastLines(string(errLog), 20))
	}
}

// waitUp polls /healthz through nginx until an instance answers, and
// reports false if nginx exits first.
func (px *proxy) waitUp(tb testing.TB) bool {
	tb.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if px.exited() {
			return false
		}
		if resp, err := httpClient.Get(px.URL + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("nginx at %s not passing requests within %s: %s", px.URL, startTimeout, px.out.tail(20))
	return false
}

// nginxConf turns deploy/nginx.conf into a configuration for this test: it
// listens on listen, proxies to upstreams (each with the parameters of the
// file's first server line), keeps its pid, logs and temporary files in
// dir, and adds upstreamHeader. Anything it expects and does not find is an
// error, so the test notices when the deploy file changes shape.
func nginxConf(tmpl, dir, listen string, upstreams []string, root bool) (string, error) {
	conf := tmpl
	replace := func(what string, re *regexp.Regexp, want int, repl func(m []string) string) error {
		n := len(re.FindAllStringIndex(conf, -1))
		if n == 0 || (want > 0 && n != want) {
			return fmt.Errorf("%s: found %d, want %d", what, n, max(want, 1))
		}
		conf = re.ReplaceAllStringFunc(conf, func(s string) string { return repl(re.FindStringSubmatch(s)) })
		return nil
	}
	user := "# user: not root, so nginx runs as the test's user"
	if root {
		// Workers must reach the test's private temporary directory.
		user = "user root;"
	}
	steps := []struct {
		what string
		re   *regexp.Regexp
		want int
		repl func(m []string) string
	}{
		{"user", regexp.MustCompile(`(?m)^user\s+[^;]*;`), 1, func([]string) string { return user }},
		{"pid", regexp.MustCompile(`(?m)^pid\s+[^;]*;`), 1, func([]string) string { return "pid " + dir + "/nginx.pid;" }},
		{"error_log", regexp.MustCompile(`(?m)^error_log\s+\S+`), 1, func([]string) string { return "error_log " + dir + "/error.log" }},
		{"access_log", regexp.MustCompile(`(?m)^([ \t]*)access_log\s+\S+`), 1, func(m []string) string {
			return m[1] + "access_log " + dir + "/access.log"
		}},
		{"listen", regexp.MustCompile(`(?m)^([ \t]*)listen\s+[^;]*;`), 1, func(m []string) string {
			return m[1] + "listen " + listen + ";"
		}},
		// Temporary files where this nginx may write them.
		{"http block", regexp.MustCompile(`(?m)^http \{\n`), 1, func(m []string) string {
			var b strings.Builder
			b.WriteString(m[0])
			for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
				fmt.Fprintf(&b, "    %s_temp_path %s/%s_temp;\n", t, dir, t)
			}
			return b.String()
		}},
		{"locations", regexp.MustCompile(`(?m)^([ \t]*)location [^{\n]*\{\n`), 0, func(m []string) string {
			return m[0] + m[1] + "    add_header " + upstreamHeader + " $upstream_addr always;\n"
		}},
	}
	for _, s := range steps {
		if err := replace(s.what, s.re, s.want, s.repl); err != nil {
			return "", err
		}
	}

	// The upstream servers: the first line is the model for all.
	server := regexp.MustCompile(`(?m)^([ \t]*)server\s+(\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-fA-F:]+\]:\d+|[\w.-]+:\d+)([^;\n]*);\n`)
	ms := server.FindAllStringSubmatchIndex(conf, -1)
	if len(ms) == 0 {
		return "", fmt.Errorf("upstream servers: none found")
	}
	first := server.FindStringSubmatch(conf[ms[0][0]:ms[0][1]])
	var lines strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&lines, "%sserver %s%s;\n", first[1], u, first[3])
	}
	var out strings.Builder
	prev := 0
	for i, m := range ms {
		out.WriteString(conf[prev:m[0]])
		if i == 0 {
			out.WriteString(lines.String())
		}
		prev = m[1]
	}
	out.WriteString(conf[prev:])
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// nginxAndConf returns the nginx binary the harness provides
// ($PARLEY_TEST_NGINX) and the text of deploy/nginx.conf.
func nginxAndConf(tb testing.TB) (bin string, conf []byte) {
	tb.Helper()
	bin = os.Getenv("PARLEY_TEST_NGINX")
	if bin == "" {
		tb.Fatalf("PARLEY_TEST_NGINX is not set; run the tests with make test or scripts/with-test-services.sh")
	}
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "nginx.conf"))
	if err != nil {
		tb.Fatalf("read deploy/nginx.conf: %v", err)
	}
	return bin, conf
}

// TestDeployNginxConf checks that deploy/nginx.conf, as the tests rewrite
// it, is a configuration nginx accepts (nginx -t), and that the rewrite
// found everything it expects.
func TestDeployNginxConf(t *testing.T) {
	t.Parallel()
	bin, tmpl := nginxAndConf(t)
	dir := t.TempDir()
	conf, err := nginxConf(string(tmpl), dir, "127.0.0.1:1", []string{"127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"}, os.Geteuid() == 0)
	if err != nil {
		t.Fatalf("deploy/nginx.conf: %v", err)
	}
	for _, want := range []string{
		"server 127.0.0.1:2 max_fails=3 fail_timeout=10s;",
		"server 127.0.0.1:4 max_fails=3 fail_timeout=10s;",
		"listen 127.0.0.1:1;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("generated configuration lacks %q", want)
		}
	}
	if strings.Contains(conf, "8081") || strings.Contains(conf, "/var/log") {
		t.Errorf("generated configuration still names the deploy file's addresses or paths:\n%s", conf)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	out, err := exec.Command(bin, "-t", "-c", path, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}
