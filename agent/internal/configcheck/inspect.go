package configcheck

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// MaxFileSize caps the config file a check reads; a larger one is a problem.
const MaxFileSize = 4 << 20

// The reasons of the local problems that are fixed words.
const (
	ReasonMissing         = "missing"
	ReasonRequiredMissing = "required key missing"
)

// local is what the checks of one file that need no hub found.
type local struct {
	flat     configdoc.Flat // the file's canonical form; nil when it could not be read or parsed
	missing  bool           // the file does not exist
	read     bool           // the file is a regular one (or a link to one) and was read whole; it may not parse
	problems []protocol.ConfigProblem
}

// inspect reads and judges the file of cc: it exists, is readable, parses in its format, holds
// the required keys, and is not world-readable (mode & 0o004) when it is marked secret or
// holds a secret-looking key.
func inspect(cc *config.ConfigCheck) local {
	var loc local
	add := func(key, reason string) { loc.problems = append(loc.problems, problem(cc.Path, key, reason)) }
	fi, err := os.Stat(cc.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		loc.missing = true
		add("", ReasonMissing)
		return loc
	case err != nil:
		add("", "unreadable: "+errText(err))
		return loc
	case fi.IsDir():
		add("", "a directory, not a file")
		return loc
	case !fi.Mode().IsRegular():
		add("", "not a regular file")
		return loc
	}
	perm := fi.Mode().Perm()
	worldReadable := perm&0o004 != 0
	if worldReadable && cc.Secret {
		add("", fmt.Sprintf("world-readable (mode %04o) and holds secrets", perm))
	}
	data, err := readCapped(cc.Path)
	if err != nil {
		add("", err.Error())
		return loc
	}
	loc.read = true
	flat, err := configdoc.Parse(cc.Format, data)
	if err != nil {
		add("", fmt.Sprintf("invalid %s: %v", cc.Format, err))
		return loc
	}
	loc.flat = flat
	for _, k := range cc.RequiredKeys {
		if !hasKey(flat, k) {
			add(k, ReasonRequiredMissing)
		}
	}
	if worldReadable && !cc.Secret {
		var secret []string
		for _, k := range flat.Keys() {
			if configdoc.IsSecretKey(k) {
				secret = append(secret, k)
			}
		}
		switch len(secret) {
		case 0:
		case 1:
			add(secret[0], fmt.Sprintf("world-readable (mode %04o) and holds a secret-looking key", perm))
		default:
			add(secret[0], fmt.Sprintf("world-readable (mode %04o) and holds secret-looking keys (this one and %d more)", perm, len(secret)-1))
		}
	}
	return loc
}

// hasKey reports whether key is in f, itself or as a section: db is present when db.url is.
func hasKey(f configdoc.Flat, key string) bool {
	if _, ok := f[key]; ok {
		return true
	}
	prefix := key + "."
	for k := range f {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// readCapped reads the file, refusing one larger than MaxFileSize.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unreadable: %s", errText(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("unreadable: %s", errText(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	return data, nil
}

// errText is an error without the path a *fs.PathError repeats (the problem names the file).
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
