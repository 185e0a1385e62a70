package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/testenv"
)

// pki writes a CA of the test's own and a certificate it signed for
// localhost and 127.0.0.1, as PEM files in dir.
func pki(t *testing.T, dir string) testenv.TLSFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "orderq test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := testenv.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for path, block := range map[string]*pem.Block{
		files.CA:   {Type: "CERTIFICATE", Bytes: caDER},
		files.Cert: {Type: "CERTIFICATE", Bytes: leafDER},
		files.Key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// The broker user of docker-compose.yml: no tags, and permissions on
// orderq.* resources only.
const (
	brokerPassword    = "e2e-broker-password"
	brokerDefinitions = `{"users": [{"name": "orderq", "password": "` + brokerPassword + `", "tags": ""}],
 "vhosts": [{"name": "/"}],
 "permissions": [{"user": "orderq", "vhost": "/", "configure": "^orderq\\.", "write": "^orderq\\.", "read": "^orderq\\."}]}`
	dbPassword = "e2e-database-password"
)

// TestTLSToBrokerAndDatabase runs the worker and the gateway against a broker
// that listens for AMQPS only and a database whose user must use TLS, both
// with certificates of a private CA. Nothing but SSL_CERT_FILE (the CA),
// amqps:// and tls=true is needed. The users are the least-privilege ones of
// docker-compose.yml, so this also shows they are all the programs need.
func TestTLSToBrokerAndDatabase(t *testing.T) {
	t.Parallel()
	files := pki(t, t.TempDir())
	node := testenv.StartRabbitMQ(t, &files, brokerDefinitions)
	mdb := testenv.StartMariaDB(t, &files)

	root, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", mdb.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	grants, err := os.ReadFile("../deploy/mysql/20-orderq-grants.sql")
	if err != nil {
		t.Fatal(err)
	}
	setup := []string{
		// Anonymous users would take a local connection before orderq@%.
		"DELETE FROM mysql.global_priv WHERE User = ''",
		"FLUSH PRIVILEGES",
		"CREATE DATABASE orderq CHARACTER SET utf8mb4",
		"CREATE USER 'orderq'@'%' IDENTIFIED BY '" + dbPassword + "' REQUIRE SSL",
	}
	var body strings.Builder
	for line := range strings.Lines(string(grants)) {
		if !strings.HasPrefix(line, "--") {
			body.WriteString(line)
		}
	}
	for stmt := range strings.SplitSeq(body.String(), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			setup = append(setup, stmt)
		}
	}
	for _, stmt := range setup {
		if _, err := root.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	dsn := fmt.Sprintf("orderq:%s@tcp(localhost:%d)/orderq?parseTime=true&charset=utf8mb4", dbPassword, mdb.Port)
	// Without TLS the user is refused, so the programs below used it.
	plain, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Ping(); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("the orderq user logged in without TLS (%v)", err)
	}

	s := &system{t: t, env: map[string]string{
		"AMQP_URL":               fmt.Sprintf("amqps://orderq:%s@localhost:%d/", brokerPassword, node.Port),
		"MYSQL_DSN":              dsn + "&tls=true",
		"SSL_CERT_FILE":          files.CA,
		"ADMIN_TOKEN":            adminToken,
		"STOREFRONT_API_KEYS":    storefrontKey,
		"CUSTOMER_JWT_SECRET":    customerSecret,
		"ORDER_ID_SECRET":        orderIDSecret,
		"PAYMENT_WEBHOOK_SECRET": webhookSecret,
		"SHARDS":                 "4",
	}}
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 2)
	item := c.createItem("over tls", 5, 0)
	st, o := c.order(item.ID, 1, "c-tls", 10)
	if st != http.StatusOK || o.Status != orderstatus.Confirmed {
		t.Fatalf("order over TLS: %d %+v", st, o)
	}
	if got := c.final(o.ID); got.Status != orderstatus.Confirmed {
		t.Errorf("order read back: %s", got.Status)
	}
	// The broker saw TLS connections only: it has no other listener.
	if out := node.Ctl(t, "list_connections", "--no-table-headers", "-q", "name", "ssl"); !strings.Contains(out, "true") || strings.Contains(out, "false") {
		t.Errorf("broker connections, by TLS:\n%s", out)
	}
}
