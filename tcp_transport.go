package raft

// This file provides the plain TCP StreamLayer and the constructors of a
// NetworkTransport over it.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

var (
	errNotAdvertisable = errors.New("local bind address is not advertisable")
	errNotTCP          = errors.New("local address is not a TCP address")
)

// TCPStreamLayer is a StreamLayer over plain TCP.
type TCPStreamLayer struct {
	advertise net.Addr
	listener  *net.TCPListener
}

// NewTCPTransport listens on bindAddr and returns a NetworkTransport over
// TCP. advertise is the address peers reach it at (nil: the bound address,
// which must then be a specific IP). See NewNetworkTransport for the rest.
func NewTCPTransport(bindAddr string, advertise net.Addr, maxPool int, timeout time.Duration, logOutput io.Writer) (*NetworkTransport, error) {
	return newTCPTransport(bindAddr, advertise, func(stream StreamLayer) *NetworkTransport {
		return NewNetworkTransport(stream, maxPool, timeout, logOutput)
	})
}

// NewTCPTransportWithLogger is NewTCPTransport logging to logger.
func NewTCPTransportWithLogger(bindAddr string, advertise net.Addr, maxPool int, timeout time.Duration, logger hclog.Logger) (*NetworkTransport, error) {
	return newTCPTransport(bindAddr, advertise, func(stream StreamLayer) *NetworkTransport {
		return NewNetworkTransportWithLogger(stream, maxPool, timeout, logger)
	})
}

// NewTCPTransportWithConfig is NewTCPTransport configured by config, whose
// Stream is ignored (replaced by the TCP stream layer). config is not
// modified.
func NewTCPTransportWithConfig(bindAddr string, advertise net.Addr, config *NetworkTransportConfig) (*NetworkTransport, error) {
	return newTCPTransport(bindAddr, advertise, func(stream StreamLayer) *NetworkTransport {
		c := *config
		c.Stream = stream
		return NewNetworkTransportWithConfig(&c)
	})
}

// newTCPTransport binds, checks that the address can be advertised, and
// builds the transport with create.
func newTCPTransport(bindAddr string, advertise net.Addr, create func(StreamLayer) *NetworkTransport) (*NetworkTransport, error) {
	list, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", bindAddr, err)
	}
	stream := &TCPStreamLayer{advertise: advertise, listener: list.(*net.TCPListener)}
	if err := checkAdvertisable(stream.Addr()); err != nil {
		_ = list.Close()
		return nil, err
	}
	return create(stream), nil
}

// checkAdvertisable refuses an address peers could not dial back.
func checkAdvertisable(a net.Addr) error {
	addr, ok := a.(*net.TCPAddr)
	if !ok {
		return errNotTCP
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return errNotAdvertisable
	}
	return nil
}

// Dial opens a TCP connection to address.
func (t *TCPStreamLayer) Dial(address ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// Accept waits for the next incoming connection.
func (t *TCPStreamLayer) Accept() (c net.Conn, err error) {
	return t.listener.Accept()
}

// Close stops listening.
func (t *TCPStreamLayer) Close() (err error) {
	return t.listener.Close()
}

// Addr is the advertised address, or the bound one.
func (t *TCPStreamLayer) Addr() net.Addr {
	if t.advertise != nil {
		return t.advertise
	}
	return t.listener.Addr()
}
