package raft

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "raft test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// config returns a tls.Config with a certificate for 127.0.0.1 signed by ca,
// trusting ca.
func (ca *testCA) config(t *testing.T, name string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      ca.pool,
		MinVersion:   tls.VersionTLS12,
	}
}

func newTLSTestTransport(t *testing.T, config *tls.Config) (*NetworkTransport, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	trans, err := NewTLSTransport("127.0.0.1:0", nil, config, &NetworkTransportConfig{MaxPool: 2, Timeout: 2 * time.Second, Logger: testLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = trans.Close() })
	return trans, logs
}

func TestTLSTransportMutualAuth(t *testing.T) {
	ca := newTestCA(t)
	server, logs := newTLSTestTransport(t, ca.config(t, "server"))
	client, _ := newTLSTestTransport(t, ca.config(t, "client"))
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		return &RequestVoteResponse{Term: rpc.Command.(*RequestVoteRequest).Term, Granted: true}, nil
	})
	for range 2 {
		var resp RequestVoteResponse
		if err := client.RequestVote("s", server.LocalAddr(), &RequestVoteRequest{Term: 7}, &resp); err != nil {
			t.Fatal(err)
		}
		if !resp.Granted || resp.Term != 7 {
			t.Fatalf("response %+v", resp)
		}
	}

	// Refused: no certificate, a certificate of another CA, plain TCP.
	noCert := ca.config(t, "anonymous")
	noCert.Certificates = nil
	strangerCA := newTestCA(t)
	stranger := strangerCA.config(t, "stranger")
	stranger.RootCAs = ca.pool // trusts the server, is not trusted by it
	for name, config := range map[string]*tls.Config{"no certificate": noCert, "unknown CA": stranger} {
		conn, err := tls.Dial("tcp", string(server.LocalAddr()), config)
		if err == nil {
			_, _ = conn.Write([]byte{rpcRequestVote, 0x80})
			_ = conn.SetReadDeadline(deadline(t))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatalf("%s: the server answered", name)
		}
	}
	plain, err := net.Dial("tcp", string(server.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = plain.Write([]byte{rpcRequestVote, 0x80})
	_ = plain.(*net.TCPConn).CloseWrite()
	_ = plain.SetReadDeadline(deadline(t))
	_, _ = plain.Read(make([]byte, 64))
	plain.Close()
	waitFor(t, "three refusals in the log", func() bool {
		return strings.Count(logs.String(), "refusing connection: TLS handshake failed") == 3
	})
}

func TestTLSStreamLayerNeedsACertificate(t *testing.T) {
	if _, err := NewTLSStreamLayer("127.0.0.1:0", nil, &tls.Config{}); !errors.Is(err, errNoCertificate) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewTLSStreamLayer("0.0.0.0:0", nil, newTestCA(t).config(t, "x")); !errors.Is(err, errNotAdvertisable) {
		t.Fatalf("unspecified address: got %v", err)
	}
}

func TestTCPTransportNeedsAdvertisableAddress(t *testing.T) {
	if _, err := NewTCPTransport("0.0.0.0:0", nil, 1, time.Second, nil); !errors.Is(err, errNotAdvertisable) {
		t.Fatalf("got %v", err)
	}
	adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9999}
	trans, err := NewTCPTransportWithLogger("0.0.0.0:0", adv, 1, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	if trans.LocalAddr() != "127.0.0.1:9999" {
		t.Fatalf("LocalAddr = %s, want the advertised address", trans.LocalAddr())
	}
}
