package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Private servers, for the few tests that need a configuration the shared
// servers must not get: a resource alarm (it would block every other test's
// publishers), a TLS listener, a plugin. Each is started from the locally
// installed programs, in a directory of its own, on free ports of 127.0.0.1,
// and stopped by its pid when the test ends. Without the programs the test
// is skipped, except under CI, where it fails.

// TLSFiles are the PEM files of a server's TLS listener. The server gets
// copies it can read.
type TLSFiles struct {
	CA, Cert, Key string
}

// RabbitMQNode is a RabbitMQ node of a test's own. Kill and Restart crash
// it and start it again on its data, for fail-over tests.
type RabbitMQNode struct {
	Name string // node name, for rabbitmqctl -n
	Port int    // AMQP on 127.0.0.1, or AMQPS when the node was started with TLS
	// PrometheusPort serves the rabbitmq_prometheus plugin's /metrics on
	// 127.0.0.1, for a node started WithPrometheus; else 0.
	PrometheusPort int

	t       testing.TB
	server  string
	env     []string
	dir     string
	pidFile string
	pid     int
}

// RabbitMQOption adds to a node what StartRabbitMQ does not give every node.
type RabbitMQOption func(n *RabbitMQNode, conf *[]string, plugins *[]string)

// WithPrometheus enables the rabbitmq_prometheus plugin, on a free port
// (RabbitMQNode.PrometheusPort): the shared broker's plugins are never
// changed by a test.
func WithPrometheus(t testing.TB) RabbitMQOption {
	port := FreePort(t)
	return func(n *RabbitMQNode, conf *[]string, plugins *[]string) {
		n.PrometheusPort = port
		*plugins = append(*plugins, "rabbitmq_prometheus")
		*conf = append(*conf, "prometheus.tcp.ip = 127.0.0.1", fmt.Sprintf("prometheus.tcp.port = %d", port))
	}
}

// StartRabbitMQ starts a RabbitMQ node that accepts guest from 127.0.0.1:
// with tls, on an AMQPS listener only; users and permissions are the node's
// defaults unless definitions (a definitions JSON document, imported at boot)
// sets others.
func StartRabbitMQ(t testing.TB, tls *TLSFiles, definitions string, opts ...RabbitMQOption) *RabbitMQNode {
	t.Helper()
	server := requireProgram(t, "rabbitmq-server")
	requireProgram(t, "rabbitmqctl")
	dir := serverDir(t, "orderq-rabbitmq-", "rabbitmq")
	n := &RabbitMQNode{Name: Name("orderq_test_") + "@localhost", Port: FreePort(t)}
	var plugins []string
	conf := []string{
		"loopback_users = none",
		// A test's node stays small: no alarm from the shared machine's load.
		"vm_memory_high_watermark.absolute = 1GB",
		"disk_free_limit.absolute = 50MB",
	}
	if tls == nil {
		conf = append(conf, fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d", n.Port))
	} else {
		files := copyTLS(t, tls, dir, "rabbitmq")
		conf = append(conf, "listeners.tcp = none",
			fmt.Sprintf("listeners.ssl.default = 127.0.0.1:%d", n.Port),
			"ssl_options.cacertfile = "+files.CA,
			"ssl_options.certfile = "+files.Cert,
			"ssl_options.keyfile = "+files.Key,
			"ssl_options.verify = verify_none",
			"ssl_options.fail_if_no_peer_cert = false")
	}
	if definitions != "" {
		writeFile(t, filepath.Join(dir, "definitions.json"), definitions, "rabbitmq")
		conf = append(conf, "load_definitions = "+filepath.Join(dir, "definitions.json"))
	}
	for _, o := range opts {
		o(n, &conf, &plugins)
	}
	writeFile(t, filepath.Join(dir, "rabbitmq.conf"), strings.Join(conf, "\n")+"\n", "rabbitmq")
	writeFile(t, filepath.Join(dir, "enabled_plugins"), "["+strings.Join(plugins, ",")+"].\n", "rabbitmq")
	for _, sub := range []string{"mnesia", "log"} {
		mkdirOwned(t, filepath.Join(dir, sub), "rabbitmq")
	}
	n.t, n.server, n.dir, n.pidFile = t, server, dir, filepath.Join(dir, "pid")
	n.env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_DIST_PORT="+strconv.Itoa(FreePort(t)),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+n.pidFile,
	)
	// The node detaches: it is stopped by the pid it writes, which it may
	// write after a start this test gave up waiting for.
	t.Cleanup(func() {
		if n.pid == 0 {
			n.pid = readPid(n.pidFile, 10*time.Second)
		}
		stopPid(t, "rabbitmq node "+n.Name, n.pid)
	})
	n.start()
	return n
}

// start runs the node and returns once it listens.
func (n *RabbitMQNode) start() {
	n.t.Helper()
	os.Remove(n.pidFile)
	cmd := exec.Command(n.server, "-detached")
	cmd.Env = n.env
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("rabbitmq-server -detached: %v\n%s", err, out)
	}
	n.pid = readPid(n.pidFile, 60*time.Second)
	if n.pid == 0 || !waitPort(n.Port, 60*time.Second) {
		n.t.Fatalf("rabbitmq node %s did not start within 60 s:\n%s", n.Name, logs(filepath.Join(n.dir, "log")))
	}
	if n.PrometheusPort != 0 && !waitPort(n.PrometheusPort, 30*time.Second) {
		n.t.Fatalf("rabbitmq node %s serves no metrics on port %d:\n%s", n.Name, n.PrometheusPort, logs(filepath.Join(n.dir, "log")))
	}
}

// Kill crashes the node (SIGKILL: no shutdown) and returns once it is gone.
func (n *RabbitMQNode) Kill() {
	n.t.Helper()
	kill(n.t, "rabbitmq node "+n.Name, n.pid)
	n.pid = 0
}

// Restart starts the node Kill crashed or Stop stopped, on the same data and
// ports, and returns once it listens and has rejoined its cluster, if it was
// in one.
func (n *RabbitMQNode) Restart() {
	n.t.Helper()
	n.start()
	n.Ctl(n.t, "await_startup")
}

// Stop stops the node gracefully and returns once it is gone, for Restart
// to start it again: a rolling restart's step.
func (n *RabbitMQNode) Stop() {
	n.t.Helper()
	n.Ctl(n.t, "stop")
	for syscall.Kill(n.pid, 0) == nil {
		time.Sleep(20 * time.Millisecond)
	}
	n.pid = 0
}

// StartRabbitMQCluster starts size nodes (as StartRabbitMQ without TLS or
// definitions) and joins them into one cluster.
func StartRabbitMQCluster(t testing.TB, size int) []*RabbitMQNode {
	t.Helper()
	nodes := make([]*RabbitMQNode, size)
	for i := range nodes {
		nodes[i] = StartRabbitMQ(t, nil, "")
	}
	for _, n := range nodes[1:] {
		n.Ctl(t, "stop_app")
		n.Ctl(t, "join_cluster", nodes[0].Name)
		n.Ctl(t, "start_app")
	}
	for _, n := range nodes {
		n.Ctl(t, "await_startup")
	}
	return nodes
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (n *RabbitMQNode) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(requireProgram(t, "rabbitmqctl"), append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// MariaDB is a MariaDB server of a test's own, with root on 127.0.0.1 and no
// password. Kill and Restart crash it and start it again on its data, for
// crash tests.
type MariaDB struct {
	Port int

	t      testing.TB
	dir    string
	server string
	args   []string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd was waited for
}

// StartMariaDB starts a MariaDB server; with tls, its TLS listener uses those
// files.
func StartMariaDB(t testing.TB, tls *TLSFiles) *MariaDB {
	t.Helper()
	install := requireProgram(t, "mariadb-install-db")
	server := requireProgram(t, "mariadbd")
	dir := serverDir(t, "orderq-mariadb-", "mysql")
	data := filepath.Join(dir, "data")
	mkdirOwned(t, data, "mysql")
	if out, err := exec.Command(install, "--no-defaults", "--datadir="+data, "--user=mysql",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{Port: FreePort(t), t: t, dir: dir, server: server}
	m.args = []string{"--no-defaults", "--datadir=" + data, "--user=mysql",
		"--port=" + strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "sock"),
		"--pid-file=" + filepath.Join(dir, "pid"), "--log-error=" + filepath.Join(dir, "error.log"),
		"--innodb-buffer-pool-size=64M", "--skip-log-bin"}
	if tls != nil {
		files := copyTLS(t, tls, dir, "mysql")
		m.args = append(m.args, "--ssl-ca="+files.CA, "--ssl-cert="+files.Cert, "--ssl-key="+files.Key)
	}
	t.Cleanup(func() {
		if m.cmd == nil {
			return
		}
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("mariadbd (pid %d) did not stop within 30 s of SIGTERM; killed", m.cmd.Process.Pid)
			m.cmd.Process.Kill()
			<-m.exited
		}
	})
	m.start()
	return m
}

// start runs the server and returns once it listens.
func (m *MariaDB) start() {
	m.t.Helper()
	cmd := exec.Command(m.server, m.args...)
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	if !waitPort(m.Port, 60*time.Second) {
		log, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
		m.t.Fatalf("mariadbd did not listen on %d within 60 s:\n%s", m.Port, log)
	}
}

// Kill crashes the server (SIGKILL: no shutdown, no flush) and returns once
// it is gone: its clients' connections break and new ones are refused.
func (m *MariaDB) Kill() {
	m.t.Helper()
	if err := m.cmd.Process.Kill(); err != nil {
		m.t.Fatalf("kill mariadbd: %v", err)
	}
	<-m.exited
	m.cmd = nil
}

// Restart starts the server Kill crashed on the same data and port, and
// returns once it listens (after its crash recovery).
func (m *MariaDB) Restart() {
	m.t.Helper()
	if m.cmd != nil {
		m.t.Fatal("Restart: mariadbd is running; Kill it first")
	}
	m.start()
}

// requireProgram returns the path of a server's program, which may live in
// an sbin directory that the test's PATH lacks.
func requireProgram(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed: this test starts a server of its own", name)
	}
	t.Skipf("%s is not installed: this test starts a server of its own", name)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// serverDir makes a directory for a server that runs as owner, removed when
// the test ends (after the server stopped: cleanups run last in, first out).
func serverDir(t testing.TB, prefix, owner string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	chown(t, dir, owner)
	return dir
}

func mkdirOwned(t testing.TB, dir, owner string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	chown(t, dir, owner)
}

func writeFile(t testing.TB, path, content, owner string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, path, owner)
}

func copyTLS(t testing.TB, tls *TLSFiles, dir, owner string) TLSFiles {
	t.Helper()
	var out TLSFiles
	for _, f := range []struct{ src, name string }{{tls.CA, "ca.pem"}, {tls.Cert, "cert.pem"}, {tls.Key, "key.pem"}} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatalf("TLS file: %v", err)
		}
		writeFile(t, filepath.Join(dir, f.name), string(b), owner)
	}
	out.CA, out.Cert, out.Key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	return out
}

// chown gives path to the server's user when the test runs as root (the
// server's start script switches to it); otherwise the server runs as the
// test's own user, who owns path already.
func chown(t testing.TB, path, owner string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup(owner)
	if err != nil {
		t.Fatalf("the %s user is missing: %v", owner, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// FreePort returns a port of 127.0.0.1 that was free a moment ago, for a
// server of a test's own.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(port int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// readPid waits for a pid file and returns its pid, or 0.
func readPid(path string, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopPid stops a server that is not the test's child: SIGTERM, then SIGKILL
// if it is still there after 30 s.
func stopPid(t testing.TB, what string, pid int) {
	t.Helper()
	if pid == 0 {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); errors.Is(err, syscall.ESRCH) {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Errorf("%s (pid %d) did not stop within 30 s of SIGTERM; killed", what, pid)
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill crashes a server that is not the test's child (SIGKILL) and returns
// once it is gone.
func kill(t testing.TB, what string, pid int) {
	t.Helper()
	if pid == 0 {
		t.Fatalf("%s is not running", what)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (pid %d): %v", what, pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still there 30 s after SIGKILL", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logs returns the text of the log files in dir, for a failure's message.
func logs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}
