package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/centralhub/centralhub/hub"
)

// Backuper is what the backup route needs of the embedded store: a consistent copy of its
// file, and the audit log the backup is recorded in.
type Backuper interface {
	// Backup writes a copy of the whole store to w, calling size first with its length.
	Backup(w io.Writer, size func(int64)) (int64, error)
	// WriteAlerts appends the audit entry of the backup.
	WriteAlerts(ctx context.Context, w hub.AlertWrites) error
}

// AuditStoreBackup is the audit action of a store backup.
const AuditStoreBackup = "store.backup"

// backup streams a consistent copy of the embedded store's file, recorded in the audit log
// first. A PostgreSQL store is backed up with the database's own tools, so there is nothing
// to stream: 409 says so.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Backup == nil {
		return &Error{Status: http.StatusConflict, Message: "this hub's store is PostgreSQL: back it up with pg_dump (see docs/operations.md)"}
	}
	c := claimsFrom(r.Context())
	entry := hub.AuditEntry{At: s.cfg.Now(), Actor: c.Subject, Role: string(c.Role), Tenant: c.Tenant,
		Action: AuditStoreBackup, Target: "centralhub.db"}
	if err := s.cfg.Backup.WriteAlerts(r.Context(), hub.AlertWrites{Audit: []hub.AuditEntry{entry}}); err != nil {
		s.log.Error("store backup refused: its audit entry could not be written", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Message: "the store is unavailable; try again later"}
	}
	h := w.Header()
	n, err := s.cfg.Backup.Backup(w, func(size int64) {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="centralhub.db"`)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
	})
	if err != nil {
		// The status line may be gone already: the client sees a short body against the
		// Content-Length, which `hub backup` (and curl) report as an error.
		s.log.Error("store backup failed", "err", err, "bytes", n)
		if h.Get("Content-Length") == "" { // nothing written yet: an error answer can still go
			return err
		}
		return nil
	}
	s.log.Info("store backup taken", "by", c.Subject, "bytes", n)
	return nil
}
