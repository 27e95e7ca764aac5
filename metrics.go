package raft

// The names of raft's metrics, emitted through github.com/armon/go-metrics
// under the names hashicorp/raft uses. They are declared once so that the hot
// paths do not build a key slice per call; nothing modifies them.
var (
	keyApply            = []string{"raft", "apply"}
	keyBarrier          = []string{"raft", "barrier"}
	keyVerifyLeader     = []string{"raft", "verify_leader"}
	keyCommitTime       = []string{"raft", "commitTime"}
	keyCommitNumLogs    = []string{"raft", "commitNumLogs"}
	keyFSMApply         = []string{"raft", "fsm", "apply"}
	keyFSMApplyBatch    = []string{"raft", "fsm", "applyBatch"}
	keyFSMApplyBatchNum = []string{"raft", "fsm", "applyBatchNum"}
	keyDispatchLog      = []string{"raft", "leader", "dispatchLog"}
	keyDispatchNumLogs  = []string{"raft", "leader", "dispatchNumLogs"}
	keyRPCAppendEntries = []string{"raft", "rpc", "appendEntries"}
	keyRPCStoreLogs     = []string{"raft", "rpc", "appendEntries", "storeLogs"}
	keyProcessHeartbeat = []string{"raft", "rpc", "processHeartbeat"}
	keyReplAppendRPC    = []string{"raft", "replication", "appendEntries", "rpc"}
	keyReplAppendLogs   = []string{"raft", "replication", "appendEntries", "logs"}
	keyReplHeartbeat    = []string{"raft", "replication", "heartbeat"}
	keyReplInstallSnap  = []string{"raft", "replication", "installSnapshot"}
)
