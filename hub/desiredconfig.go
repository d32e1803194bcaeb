package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DesiredConfig is the config an admin wants one service of one tenant to run with: a JSON
// object, versioned. The first write is version 1 and every write after it adds 1. Agents
// reduce it, and their own config files, to configdoc's canonical form and compare checksums.
type DesiredConfig struct {
	Tenant  string `json:"tenant"`
	Service string `json:"service"`
	Version int64  `json:"version"`
	// Config is the JSON object itself, as the hub wrote it (compact, keys sorted, numbers as
	// they were sent); stores keep it byte for byte.
	Config json.RawMessage `json:"config"`
	// Checksum is configdoc's checksum ("sha256:...") of Config's canonical form: of the real
	// values, also where the API shows them redacted.
	Checksum  string    `json:"checksum"`
	UpdatedBy string    `json:"updated_by"` // the writer's token's sub
	UpdatedAt time.Time `json:"updated_at"`
}

// ConfigWrite is one write of a desired config.
type ConfigWrite struct {
	// Config is the new document. Its Version is ignored: the store assigns the stored
	// version plus one, or 1 when none is stored.
	Config DesiredConfig
	// IfVersion, when set, makes the write conditional: it applies only while the stored
	// version is *IfVersion (0: while none is stored), and fails with a *VersionConflictError
	// otherwise. Nil writes whatever is stored.
	IfVersion *int64
	// Role is the writer's role, for the audit entry.
	Role string
}

// AuditConfigPut is the audit action of a desired config write.
const AuditConfigPut = "config.put"

// ConfigAuditEntry is the audit entry a store appends, in the same transaction, for the write
// that stored c: who, when, which service and which version. It never holds config values.
func ConfigAuditEntry(c *DesiredConfig, role string) AuditEntry {
	return AuditEntry{
		At: c.UpdatedAt, Actor: c.UpdatedBy, Role: role, Tenant: c.Tenant,
		Action: AuditConfigPut, Target: c.Service, Detail: fmt.Sprintf("version %d", c.Version),
	}
}

// ErrNoDesiredConfig is GetDesiredConfig's answer when no desired config is stored for the
// service.
var ErrNoDesiredConfig = errors.New("no desired config")

// ErrVersionConflict is what a *VersionConflictError is (errors.Is).
var ErrVersionConflict = errors.New("desired config version conflict")

// VersionConflictError is PutDesiredConfig's answer when IfVersion did not match: nothing was
// written, and Current is the version stored (0: none).
type VersionConflictError struct {
	Current int64
}

// Error implements error.
func (e *VersionConflictError) Error() string {
	if e.Current == 0 {
		return "desired config version conflict: none is stored"
	}
	return fmt.Sprintf("desired config version conflict: the stored version is %d", e.Current)
}

// Is makes errors.Is(err, ErrVersionConflict) hold.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// ConfigStore keeps desired configs, one per tenant and service, with the same contract as
// Store: safe for concurrent use (several hubs may share one database), each method one
// transaction, durable on return.
type ConfigStore interface {
	// GetDesiredConfig returns tenant's desired config of service, or ErrNoDesiredConfig.
	GetDesiredConfig(ctx context.Context, tenant, service string) (DesiredConfig, error)
	// PutDesiredConfig stores w.Config as the next version, checking w.IfVersion inside the
	// transaction, and appends ConfigAuditEntry of what it stored; it returns what it stored.
	// A mismatch of w.IfVersion writes nothing and returns a *VersionConflictError.
	PutDesiredConfig(ctx context.Context, w ConfigWrite) (DesiredConfig, error)
}
