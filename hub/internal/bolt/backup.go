package bolt

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store file to w, as of one read transaction,
// while writers go on. size is called first with the copy's length in bytes, so an HTTP
// answer can carry it. The copy is a complete store file: put it in place of centralhub.db in
// a stopped hub's data directory to restore it.
//
// The transaction copies into a temporary file beside the store at disk speed and ends before
// anything goes to w: a read transaction held open at a slow client's pace would keep bbolt
// from growing its file (and from reusing freed pages), stalling every writer behind it.
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(s.db.Path()), ".backup-*")
	if err != nil {
		return 0, fmt.Errorf("back up store: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var n int64
	if err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(tmp)
		return err
	}); err != nil {
		return 0, fmt.Errorf("back up store: copy: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("back up store: %w", err)
	}
	if size != nil {
		size(n)
	}
	sent, err := io.Copy(w, tmp)
	if err != nil {
		return sent, fmt.Errorf("back up store: send: %w", err)
	}
	return sent, nil
}

// VerifyFile opens the store file at path read-only and checks every page of it, so a backup
// is known to be whole before it replaces anything. It does not take part in a running hub.
func VerifyFile(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var first error
		for err := range tx.Check() { // read every error: Check's goroutine stops at the end
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("check %s: %w", path, first)
		}
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("check %s: not a Central Hub store (no meta bucket)", path)
		}
		return nil
	})
}
