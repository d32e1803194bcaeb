package configdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

func parseJSON(data []byte) (Flat, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return Flat{}, nil // an empty file: nothing configured
		}
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := lineCol(data, dec.InputOffset())
		return nil, fmt.Errorf("line %d, column %d: data after the top-level object", line, col)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the top level is %s; want an object", jsonKind(v))
	}
	return FromObject(obj)
}

func jsonError(data []byte, err error) error {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		line, col := lineCol(data, syntaxErr.Offset-1) // Offset is just past the bad byte
		return fmt.Errorf("line %d, column %d: %s", line, col, syntaxErr.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := lineCol(data, int64(len(data)))
		return fmt.Errorf("line %d, column %d: unexpected end of input", line, col)
	}
	return err
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func parseTOML(data []byte) (Flat, error) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, errors.New(scrubValues(strings.TrimPrefix(pe.Error(), "toml: ")))
		}
		return nil, errors.New(scrubValues(strings.TrimPrefix(err.Error(), "toml: ")))
	}
	return FromObject(m)
}

func parseYAML(data []byte) (Flat, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Flat{}, nil // an empty file: nothing configured
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, fmt.Errorf("line %d: a second YAML document; want one", extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return Flat{}, nil // a document holding only "~" or "null"
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("line %d: the top level is a %s; want a mapping", root.Line, yamlKind(root))
	}
	canonTimestamps(root, 0)
	var v any
	if err := root.Decode(&v); err != nil {
		return nil, yamlError(err)
	}
	switch v := v.(type) {
	case map[string]any:
		return FromObject(v)
	case map[any]any:
		f := Flat{}
		if err := f.add("", v); err != nil {
			return nil, err
		}
		delete(f, "") // an empty top-level mapping; add wrote the empty key for it
		return f, nil
	case nil:
		return Flat{}, nil
	}
	return nil, fmt.Errorf("the top level is %T; want a mapping", v)
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// maxYAMLDepth bounds the walk of canonTimestamps; deeper nodes are left as written.
const maxYAMLDepth = 10000

// canonTimestamps rewrites every plain scalar that YAML resolves as a timestamp into its
// canonical text, tagged as a string, so decoding keeps it exactly so. Aliases are not
// followed: the nodes they point at are rewritten where they are defined.
func canonTimestamps(n *yaml.Node, depth int) {
	if depth > maxYAMLDepth {
		return
	}
	if n.Kind == yaml.ScalarNode {
		if n.ShortTag() == "!!timestamp" {
			n.Value = yamlTimestamp(n.Value)
			n.Tag = "!!str"
		}
		return
	}
	for _, c := range n.Content {
		canonTimestamps(c, depth+1)
	}
}

// yamlTimestamp writes a YAML timestamp in canonical form. The layouts are those yaml.v3
// resolves timestamps with.
func yamlTimestamp(s string) string {
	for _, l := range []struct{ layout, out string }{
		{"2006-1-2T15:4:5.999999999Z07:00", time.RFC3339Nano},
		{"2006-1-2t15:4:5.999999999Z07:00", time.RFC3339Nano},
		{"2006-1-2 15:4:5.999999999", layoutLocalDatetime},
		{"2006-1-2", layoutLocalDate},
	} {
		if t, err := time.Parse(l.layout, s); err == nil {
			return t.Format(l.out)
		}
	}
	return s
}

// yamlError drops yaml.v3's "yaml: " prefix, keeping its "line N:" text.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(scrubValues(strings.Join(te.Errors, "; ")))
	}
	return errors.New(scrubValues(strings.TrimPrefix(err.Error(), "yaml: ")))
}

// quotedRE matches what parsers quote of their input in a message: "…" (except after
// `last key `, which names a key) and `…`.
var quotedRE = regexp.MustCompile("(last key )?(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")

// scrubValues replaces the fragments of the input a parser's message quotes with "…", so a
// parse error never carries a value of the file (toml's `found "hunter2"`, yaml's
// "cannot decode !!str `hunter2`"). Key names after "last key" stay; so do single characters
// quoted as 'x'.
func scrubValues(msg string) string {
	return quotedRE.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasPrefix(m, "last key ") {
			return m
		}
		if m[0] == '`' {
			return "`…`"
		}
		return `"…"`
	})
}

// parseEnv reads a .env file; see the package comment for its syntax.
func parseEnv(data []byte) (Flat, error) {
	f := Flat{}
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		rest := strings.TrimLeft(line, " \t")
		if rest == "" || rest[0] == '#' {
			continue
		}
		if after, ok := strings.CutPrefix(rest, "export"); ok && after != "" && (after[0] == ' ' || after[0] == '\t') {
			rest = strings.TrimLeft(after, " \t")
		}
		key, raw, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=value", n)
		}
		key = strings.TrimRight(key, " \t")
		if err := validEnvKey(key); err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", n, key, err)
		}
		value, err := envValue(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %w", n, key, err)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: key %q: already set on line %d", n, key, prev)
		}
		seen[key] = n
		f[key] = value
	}
	return f, nil
}

// validEnvKey accepts letters, digits, '_', '.' and '-', starting with a letter or '_'.
func validEnvKey(k string) error {
	if k == "" {
		return errors.New("empty key")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case ('0' <= c && c <= '9' || c == '.' || c == '-') && i > 0:
		default:
			return errors.New("must be letters, digits, '_', '.' or '-', starting with a letter or '_'")
		}
	}
	return nil
}

// envValue reads what follows the '=' of a .env line.
func envValue(raw string) (string, error) {
	s := strings.TrimLeft(raw, " \t")
	if s == "" || (s[0] == '#' && len(s) < len(raw)) {
		return "", nil // nothing, or only a comment after a blank
	}
	switch s[0] {
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"':
				return b.String(), envTrailer(s[i+1:])
			case c == '\\' && i+1 < len(s):
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '"', '\\':
					b.WriteByte(s[i])
				default:
					b.WriteByte('\\')
					b.WriteByte(s[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated double-quoted value (a value ends on its line)")
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single-quoted value (a value ends on its line)")
		}
		return s[1 : 1+end], envTrailer(s[end+2:])
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			s = s[:i]
			break
		}
	}
	return strings.TrimRight(s, " \t"), nil
}

// envTrailer accepts what may follow a quoted value: blanks and a comment.
func envTrailer(s string) error {
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] == '#' {
		return nil
	}
	return errors.New("text after the closing quote")
}
