package hubclient

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// maxTokenFile caps how much of a token file is read.
const maxTokenFile = 64 << 10

// TokenSource supplies the bearer token for each send. The sender calls Token before every
// attempt, with refresh set after the hub answered 401, so a source backed by a file re-reads it
// even when it looks unchanged.
type TokenSource interface {
	Token(refresh bool) (string, error)
}

// StaticToken is a token that never changes, such as one from the AGENT_TOKEN environment variable.
type StaticToken string

// Token implements TokenSource.
func (t StaticToken) Token(bool) (string, error) {
	if t == "" {
		return "", errors.New("empty token")
	}
	return string(t), nil
}

// FileToken reads the token from a file and re-reads it when the file's modification time or
// size changes (checked before each send), or when asked to refresh. When a re-read fails, it
// keeps the last good token and logs why.
type FileToken struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

// NewFileToken reads the token at path; it fails when the file is unreadable or empty, so a
// misconfigured agent stops at start-up.
func NewFileToken(path string, logger *slog.Logger) (*FileToken, error) {
	f := &FileToken{path: path, log: logger}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Token implements TokenSource.
func (f *FileToken) Token(refresh bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	switch {
	case err != nil:
		f.log.Warn("token file unreadable; keeping the last token", "path", f.path, "err", err)
	case refresh || !fi.ModTime().Equal(f.modTime) || fi.Size() != f.size:
		if err := f.reloadLocked(); err != nil {
			f.log.Warn("token file re-read failed; keeping the last token", "path", f.path, "err", err)
		}
	}
	return f.token, nil
}

func (f *FileToken) reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked()
}

func (f *FileToken) reloadLocked() error {
	file, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(file, maxTokenFile))
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return fmt.Errorf("read token file %s: empty", f.path)
	}
	if strings.ContainsAny(token, "\r\n") {
		return fmt.Errorf("read token file %s: more than one line", f.path)
	}
	f.token, f.modTime, f.size = token, fi.ModTime(), fi.Size()
	return nil
}
