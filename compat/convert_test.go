package compat

import (
	"bytes"
	"fmt"
	"reflect"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// The message types of both libraries, paired by name.
var (
	raftkitTypes = []any{
		&raft.AppendEntriesRequest{}, &raft.AppendEntriesResponse{}, &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{},
		&raft.RequestPreVoteRequest{}, &raft.RequestPreVoteResponse{}, &raft.TimeoutNowRequest{}, &raft.TimeoutNowResponse{},
		&raft.InstallSnapshotRequest{}, &raft.InstallSnapshotResponse{},
	}
	hashicorpTypes = []any{
		&hraft.AppendEntriesRequest{}, &hraft.AppendEntriesResponse{}, &hraft.RequestVoteRequest{}, &hraft.RequestVoteResponse{},
		&hraft.RequestPreVoteRequest{}, &hraft.RequestPreVoteResponse{}, &hraft.TimeoutNowRequest{}, &hraft.TimeoutNowResponse{},
		&hraft.InstallSnapshotRequest{}, &hraft.InstallSnapshotResponse{},
	}
)

// toHashicorp converts a raftkit message to its hashicorp twin, field by
// field (nil stays nil, empty stays empty).
func toHashicorp(v any) any { return convertTo(v, raftkitTypes, hashicorpTypes) }

// toRaftkit is the inverse of toHashicorp.
func toRaftkit(v any) any { return convertTo(v, hashicorpTypes, raftkitTypes) }

func convertTo(v any, from, to []any) any {
	for i, f := range from {
		if reflect.TypeOf(f) == reflect.TypeOf(v) {
			dst := reflect.New(reflect.TypeOf(to[i]).Elem())
			convert(dst.Elem(), reflect.ValueOf(v).Elem())
			return dst.Interface()
		}
	}
	panic(fmt.Sprintf("no twin for %T", v))
}

var timeType = reflect.TypeOf(time.Time{})

// convert copies src into dst, a value of the twin type: structs by field
// name (both must have the same fields), slices and pointers element-wise.
func convert(dst, src reflect.Value) {
	if src.Type() == timeType {
		dst.Set(src)
		return
	}
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			p := reflect.New(dst.Type().Elem())
			convert(p.Elem(), src.Elem())
			dst.Set(p)
		}
	case reflect.Slice:
		if !src.IsNil() {
			s := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
			for i := range src.Len() {
				convert(s.Index(i), src.Index(i))
			}
			dst.Set(s)
		}
	case reflect.Struct:
		if dst.NumField() != src.NumField() {
			panic(fmt.Sprintf("%s and %s differ in fields", src.Type(), dst.Type()))
		}
		for i := range src.NumField() {
			convert(dst.FieldByName(src.Type().Field(i).Name), src.Field(i))
		}
	default:
		dst.Set(src.Convert(dst.Type()))
	}
}

// callRaftkit sends x.req from a raftkit client and returns the answer.
func callRaftkit(rk *raft.NetworkTransport, target hraft.ServerAddress, x exchange) (any, error) {
	addr := raft.ServerAddress(target)
	switch req := x.req.(type) {
	case *raft.AppendEntriesRequest:
		resp := &raft.AppendEntriesResponse{}
		return resp, rk.AppendEntries("s", addr, req, resp)
	case *raft.RequestVoteRequest:
		resp := &raft.RequestVoteResponse{}
		return resp, rk.RequestVote("s", addr, req, resp)
	case *raft.RequestPreVoteRequest:
		resp := &raft.RequestPreVoteResponse{}
		return resp, rk.RequestPreVote("s", addr, req, resp)
	case *raft.TimeoutNowRequest:
		resp := &raft.TimeoutNowResponse{}
		return resp, rk.TimeoutNow("s", addr, req, resp)
	case *raft.InstallSnapshotRequest:
		resp := &raft.InstallSnapshotResponse{}
		return resp, rk.InstallSnapshot("s", addr, req, resp, bytes.NewReader(x.data))
	}
	panic(fmt.Sprintf("unknown request %T", x.req))
}

// callHashicorp sends x.req (converted) from a hashicorp client.
func callHashicorp(hc *hraft.NetworkTransport, target raft.ServerAddress, x exchange) (any, error) {
	addr := hraft.ServerAddress(target)
	switch req := toHashicorp(x.req).(type) {
	case *hraft.AppendEntriesRequest:
		resp := &hraft.AppendEntriesResponse{}
		return resp, hc.AppendEntries("s", addr, req, resp)
	case *hraft.RequestVoteRequest:
		resp := &hraft.RequestVoteResponse{}
		return resp, hc.RequestVote("s", addr, req, resp)
	case *hraft.RequestPreVoteRequest:
		resp := &hraft.RequestPreVoteResponse{}
		return resp, hc.RequestPreVote("s", addr, req, resp)
	case *hraft.TimeoutNowRequest:
		resp := &hraft.TimeoutNowResponse{}
		return resp, hc.TimeoutNow("s", addr, req, resp)
	case *hraft.InstallSnapshotRequest:
		resp := &hraft.InstallSnapshotResponse{}
		// hashicorp copies the whole reader: give it exactly Size bytes.
		return resp, hc.InstallSnapshot("s", addr, req, resp, bytes.NewReader(x.data[:req.Size]))
	}
	panic(fmt.Sprintf("unknown request %T", x.req))
}
