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
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

func parseJSON(data []byte) (Flat, error) {
	if err := CheckJSONDepth(data); err != nil {
		return nil, err
	}
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

// CheckJSONDepth refuses JSON nested deeper than MaxDepth (an ErrTooDeep error naming the line
// and column of the first bracket too deep), before a decoder, which builds every level, reads
// it. It counts the '{' and '[' outside strings and checks nothing else: what is not valid
// JSON is left for the decoder to refuse.
func CheckJSONDepth(data []byte) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > MaxDepth {
				line, col := lineCol(data, int64(i))
				return fmt.Errorf("line %d, column %d: %w", line, col, ErrTooDeep)
			}
		case '}', ']':
			depth = max(depth-1, 0)
		}
	}
	return nil
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
	if err := checkTOMLDepth(data); err != nil {
		return nil, err
	}
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
	if _, err := yamlHeight(root, 1, map[*yaml.Node]int{}); err != nil {
		return nil, err
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
		if err := f.add("", v, 1); err != nil {
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

// yamlError drops yaml.v3's "yaml: " prefix, keeping its "line N:" text. Its own depth limit
// (10,000 levels, met before the parse ends and yamlHeight runs) becomes ErrTooDeep.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(scrubValues(strings.Join(te.Errors, "; ")))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if at, _, ok := strings.Cut(msg, "exceeded max depth"); ok {
		return fmt.Errorf("%s%w", at, ErrTooDeep) // at is "line N: " or ""
	}
	return errors.New(scrubValues(msg))
}

// quotedRE matches what parsers quote of their input in a message: "…" (except after
// `last key `, which names a key), `…`, and '…' (except after `Key `, toml's name of a key
// defined twice). A single character in single quotes, escaped or not ('h', '\n'), is matched
// on its own so that the quotes around it never pair with others; scrubValues keeps it.
var quotedRE = regexp.MustCompile(`(last key )?"(?:[^"\\]|\\.)*"` + "|`[^`]*`" + `|'\\.'|'[^']'|(Key )?'[^']{2,}'`)

// scrubValues replaces the fragments of the input a parser's message quotes with "…", so a
// parse error never carries a value of the file (toml's `found "hunter2"` and
// `not a hexadecimal number: '0xh'`, yaml's "cannot decode !!str `hunter2`"). Key names
// after "last key" and "Key" stay; so do single characters quoted as 'x'.
func scrubValues(msg string) string {
	return quotedRE.ReplaceAllStringFunc(msg, func(m string) string {
		switch {
		case strings.HasPrefix(m, "last key "), strings.HasPrefix(m, "Key "):
			return m
		case m[0] == '`':
			return "`…`"
		case m[0] == '"':
			return `"…"`
		case utf8.RuneCountInString(m) == 3 || (len(m) == 4 && m[1] == '\\'):
			return m // one character
		}
		return "'…'"
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
		if validEnvKey(key) != nil {
			// Not quoted: what stands before '=' may be no key at all but a piece of a value,
			// such as the second line of a secret written across two lines.
			return nil, fmt.Errorf("line %d: the text before '=' is not a valid key (%s)", n, envKeyRule)
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

// envKeyRule says what validEnvKey accepts.
const envKeyRule = "letters, digits, '_', '.', '-', starting with a letter or '_'"

// validEnvKey accepts letters, digits, '_', '.' and '-', starting with a letter or '_'. Its
// error does not quote k.
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
			return errors.New("not a valid key (" + envKeyRule + ")")
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

// checkTOMLDepth refuses TOML nested deeper than MaxDepth (an ErrTooDeep error naming the
// line) before the parser, which recurses per nested array or inline table and does work for
// every prefix of a dotted key, reads it. It counts the levels FromObject will see: the root
// table, each part of a table header or dotted key, each array and inline table, and for
// [[t]] the array and its element. Strings and comments are skipped; nothing else is checked,
// so what is not valid TOML is left for the parser to refuse. A header that runs through an
// array of tables ([a.b] after [[a]]) is one level deeper than counted here for each such
// array: FromObject's own check catches what that leaves.
func checkTOMLDepth(data []byte) error {
	type open struct {
		table bool // an inline table, not an array
		level int
	}
	var (
		stack     []open  // the arrays and inline tables open at i
		table     = 1     // the level of the table the last header opened
		lineStart = true  // at top level, nothing but blanks yet on this line
		header    = false // in a [table] or [[array]] header
		array     = false // that header is [[array]]
		key       = true  // reading a key: at top level, or after '{' or ',' in an inline table
		dots      = 0     // dots in the header or key read so far
		base      = 0     // the level of an array or inline table opened next
		line      = 1
	)
	tooDeep := func() error { return fmt.Errorf("line %d: %w", line, ErrTooDeep) }
	parent := func() int { // the level of the table a key being read is in
		if len(stack) > 0 {
			return stack[len(stack)-1].level
		}
		return table
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case ' ', '\t', '\r':
			continue
		case '\n':
			line++
			if len(stack) == 0 {
				lineStart, header, key, dots = true, false, true, 0
			}
			continue
		}
		atLineStart := lineStart
		lineStart = false
		switch c {
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			var n int
			n, line = skipTOMLString(data, i, line)
			i += n - 1
		case '.':
			if header || key {
				dots++
				if (header && 1+dots > MaxDepth) || (!header && parent()+dots > MaxDepth) {
					return tooDeep()
				}
			}
		case '=':
			if key && !header {
				// The key's dotted parts name tables below parent(); a value that is an
				// array or inline table is one level below the last of them.
				base, key, dots = parent()+dots+1, false, 0
			}
		case '[':
			switch {
			case atLineStart && len(stack) == 0:
				header, dots = true, 0
				if array = i+1 < len(data) && data[i+1] == '['; array {
					i++
				}
			case !key:
				stack = append(stack, open{level: base})
				if base > MaxDepth {
					return tooDeep()
				}
				base++
			}
		case '{':
			if !key {
				stack = append(stack, open{table: true, level: base})
				if base > MaxDepth {
					return tooDeep()
				}
				key, dots = true, 0
			}
		case ']':
			if header {
				table = 1 + dots + 1 // the root, then the header's parts
				if array {
					table++ // the element of the array
				}
				if table > MaxDepth {
					return tooDeep()
				}
				header, key = false, false
				continue
			}
			fallthrough
		case '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if len(stack) > 0 && !stack[len(stack)-1].table {
				base = stack[len(stack)-1].level + 1
			}
		case ',':
			if len(stack) > 0 && stack[len(stack)-1].table {
				key, dots = true, 0
			}
		}
	}
	return nil
}

// skipTOMLString measures the string starting at data[i], basic (") or literal ('), on one
// line or, opened with three quotes, on several, returning its length and the line it ends on.
// One that does not end ends where a one-line string's line, or data, does.
func skipTOMLString(data []byte, i, line int) (n, endLine int) {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	j := i + 1
	if multi {
		j = i + 3
	}
	for ; j < len(data); j++ {
		switch c := data[j]; {
		case c == '\\' && q == '"':
			if j+1 < len(data) && data[j+1] == '\n' {
				if !multi {
					return j + 1 - i, line // the newline is the caller's
				}
				line++
			}
			j++
		case c == '\n':
			if !multi {
				return j - i, line // the newline is the caller's
			}
			line++
		case c == q && !multi:
			return j + 1 - i, line
		case c == q && j+2 < len(data) && data[j+1] == q && data[j+2] == q:
			// Up to two more quotes may close the string as part of its text: """a""""".
			j += 3
			for k := 0; k < 2 && j < len(data) && data[j] == q; k++ {
				j++
			}
			return j - i, line
		}
	}
	return len(data) - i, line
}

// yamlHeight checks that no mapping or sequence under n sits deeper than MaxDepth when n is
// at level depth, following aliases, and returns n's height: the levels from n down to its
// deepest mapping or sequence (0 for a scalar). Each node is walked once, its height kept in
// seen: an alias's anchor comes before it, so its height is known unless the alias is inside
// it, a loop yaml.v3's decoder refuses; here it counts as a scalar.
func yamlHeight(n *yaml.Node, depth int, seen map[*yaml.Node]int) (int, error) {
	switch n.Kind {
	case yaml.AliasNode:
		h := seen[n.Alias]
		if depth+h-1 > MaxDepth {
			return 0, fmt.Errorf("line %d: %w", n.Line, ErrTooDeep)
		}
		return h, nil
	case yaml.MappingNode, yaml.SequenceNode:
		if depth > MaxDepth {
			return 0, fmt.Errorf("line %d: %w", n.Line, ErrTooDeep)
		}
		h := 0
		for _, c := range n.Content {
			ch, err := yamlHeight(c, depth+1, seen)
			if err != nil {
				return 0, err
			}
			h = max(h, ch)
		}
		seen[n] = h + 1
		return h + 1, nil
	case yaml.DocumentNode:
		h := 0
		for _, c := range n.Content {
			ch, err := yamlHeight(c, depth, seen)
			if err != nil {
				return 0, err
			}
			h = max(h, ch)
		}
		return h, nil
	}
	return 0, nil
}
