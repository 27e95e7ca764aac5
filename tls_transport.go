package raft

// This file provides mutual TLS for NetworkTransport, which hashicorp/raft
// leaves to its users: a StreamLayer on which both ends present a
// certificate that the other verifies, and the constructor of a transport
// over it. The wire protocol inside TLS is unchanged, so a hashicorp/raft
// node given an equivalent TLS stream layer of its own interoperates.
//
// The server side completes each handshake on the connection's goroutine
// (within Timeout) before reading any request, so a peer without a valid
// certificate is refused and logged at once and never reaches raft.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// errNoCertificate: the tls.Config presents no certificate.
var errNoCertificate = errors.New("raft: mutual TLS needs a certificate of our own")

// TLSStreamLayer is a StreamLayer over mutual TLS.
type TLSStreamLayer struct {
	advertise net.Addr
	listener  net.Listener // a TCP listener; Accept wraps its connections
	server    *tls.Config
	client    *tls.Config
}

// NewTLSStreamLayer listens on bindAddr for mutual TLS connections.
// advertise is the address peers reach it at (nil: the bound address, which
// must then be a specific IP).
//
// config must hold this node's certificate (Certificates or
// GetCertificate/GetClientCertificate) and the CAs that sign its peers'
// certificates: RootCAs verifies the servers we dial, ClientCAs the clients
// that dial us (RootCAs when ClientCAs is nil: one cluster CA is the usual
// setup). Client certificates are always required and verified, whatever
// config.ClientAuth says. Peers are dialled by address, so their
// certificates must name it (an IP SAN for an IP address), unless
// config.ServerName names the certificate every peer presents. config is
// cloned, not kept.
func NewTLSStreamLayer(bindAddr string, advertise net.Addr, config *tls.Config) (*TLSStreamLayer, error) {
	if config == nil || (len(config.Certificates) == 0 && config.GetCertificate == nil) {
		return nil, errNoCertificate
	}
	list, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", bindAddr, err)
	}
	server := config.Clone()
	server.ClientAuth = tls.RequireAndVerifyClientCert
	if server.ClientCAs == nil {
		server.ClientCAs = server.RootCAs
	}
	t := &TLSStreamLayer{advertise: advertise, listener: list, server: server, client: config.Clone()}
	if err := checkAdvertisable(t.Addr()); err != nil {
		_ = list.Close()
		return nil, err
	}
	return t, nil
}

// NewTLSTransport listens on bindAddr and returns a NetworkTransport over
// mutual TLS (see NewTLSStreamLayer for tlsConfig and advertise), configured
// by config (nil: defaults), whose Stream is ignored. config is not
// modified.
func NewTLSTransport(bindAddr string, advertise net.Addr, tlsConfig *tls.Config, config *NetworkTransportConfig) (*NetworkTransport, error) {
	stream, err := NewTLSStreamLayer(bindAddr, advertise, tlsConfig)
	if err != nil {
		return nil, err
	}
	var c NetworkTransportConfig
	if config != nil {
		c = *config
	}
	c.Stream = stream
	return NewNetworkTransportWithConfig(&c), nil
}

// Dial opens a TLS connection to address and completes the handshake
// within timeout (0: no limit). With TLS 1.3 a server that refuses our
// certificate is only noticed at the first read.
func (t *TLSStreamLayer) Dial(address ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: t.client}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return d.DialContext(ctx, "tcp", string(address))
}

// Accept waits for the next incoming connection. Its handshake is left to
// the reader (NetworkTransport does it first thing), so that a slow or
// hostile peer cannot stall the accept loop.
func (t *TLSStreamLayer) Accept() (net.Conn, error) {
	conn, err := t.listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(conn, t.server), nil
}

// Close stops listening.
func (t *TLSStreamLayer) Close() error { return t.listener.Close() }

// Addr is the advertised address, or the bound one.
func (t *TLSStreamLayer) Addr() net.Addr {
	if t.advertise != nil {
		return t.advertise
	}
	return t.listener.Addr()
}
