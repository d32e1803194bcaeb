package configdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Render writes obj, a desired config as FromObject takes it, in a file format, so that
// Parse(format, Render(format, obj)) gives FromObject(obj):
//
//   - yaml: block style, keys sorted; strings that would read back as another type are quoted,
//     also those only YAML 1.1 reads so ("yes", "off", "1:20"). A whole number beyond 64 bits
//     (JSON 1e20) is written as a float: YAML has no such int.
//   - json: indented by two spaces, keys sorted, ending in a newline.
//   - toml: keys sorted, nested objects as tables. TOML has no null: null is written as "",
//     which has the same canonical form. A whole number beyond int64 is written as a float
//     when a float64 holds it exactly (1e20), and refused otherwise (18446744073709551615).
//   - env: one KEY=value line per key, sorted. A value is written bare when it is plain,
//     single-quoted when it holds blanks, quotes, '#', '$' or '\' (and no ' or line break), and
//     double-quoted with escapes otherwise. A nested object or an array is refused: a .env
//     file holds only flat keys.
func Render(format string, obj map[string]any) ([]byte, error) {
	if _, err := FromObject(obj); err != nil { // refuse what has no canonical form
		return nil, fmt.Errorf("render %s: %w", format, err)
	}
	var (
		out []byte
		err error
	)
	switch format {
	case FormatYAML:
		out, err = renderYAML(obj)
	case FormatJSON:
		out, err = renderJSON(obj)
	case FormatTOML:
		out, err = renderTOML(obj)
	case FormatEnv:
		out, err = renderEnv(obj)
	default:
		return nil, fmt.Errorf("%w %q: want yaml, json, toml or env", ErrFormat, format)
	}
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", format, err)
	}
	return out, nil
}

func renderJSON(obj map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func renderYAML(obj map[string]any) ([]byte, error) {
	n, err := yamlNode(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlNode builds the YAML node of a value, with explicit tags, so nothing is left to
// yaml.v3's reflection (json.Number in particular).
func yamlNode(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			c, err := yamlNode(v[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, yamlString(k), c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, e := range v {
			c, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}, nil
	case string, time.Time:
		s, err := scalar(v)
		if err != nil {
			return nil, err
		}
		return yamlString(s), nil
	}
	s, err := scalar(v) // a number
	if err != nil {
		return nil, err
	}
	tag := "!!float"
	switch s {
	case "inf":
		s = ".inf"
	case "-inf":
		s = "-.inf"
	case "nan":
		s = ".nan"
	default:
		// An integer beyond 64 bits is no YAML int (the decoder refuses it); as a float it
		// reads back with the same canonical form, which came from a float64 anyway.
		if isInt64(s) || isUint64(s) {
			tag = "!!int"
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}, nil
}

// yamlString is the node of a string. The encoder quotes a string that YAML 1.2 would read
// as another type ("true", "0x1F", "2024-05-01", "~"); yamlString also quotes those a YAML 1.1
// reader (PyYAML, older libraries) would ("yes", "off", "1:20"), so a service reading the file
// gets the string too.
func yamlString(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11NonString(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans and YAML 1.2 does not.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// yaml11Sexagesimal matches YAML 1.1's base-60 numbers ("1:20" is 80), which YAML 1.2 reads as
// strings.
var yaml11Sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$`)

// yaml11NonString reports whether a YAML 1.1 reader would take s, written plain, for something
// other than a string where a YAML 1.2 reader would not.
func yaml11NonString(s string) bool {
	return yaml11Bools[s] || s == "=" || yaml11Sexagesimal.MatchString(s)
}

func isInt64(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func isUint64(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func renderTOML(obj map[string]any) ([]byte, error) {
	v, err := tomlValue(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tomlValue converts a value to what the TOML encoder writes faithfully: null becomes "",
// numbers become int64 or float64.
func tomlValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := tomlValue(e)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := tomlValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case nil:
		return "", nil
	case string, bool, time.Time:
		return v, nil
	}
	s, err := scalar(v) // a number
	if err != nil {
		return nil, err
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("bad number %q", s)
	}
	if float(f) != s {
		// A whole number beyond int64 that a float64 does not hold exactly (uint64 max):
		// written as a float it would read back as another number.
		return nil, fmt.Errorf("integer %s does not fit TOML's 64 bits", s)
	}
	return f, nil // a float, or a whole number beyond int64 that came from one (1e20)
}

func renderEnv(obj map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	for _, k := range keys {
		if err := validEnvKey(k); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		switch obj[k].(type) {
		case map[string]any, map[any]any, []any, []map[string]any:
			return nil, fmt.Errorf("key %q holds an object or array; a .env file holds only flat KEY=value lines", k)
		}
		s, err := scalar(obj[k])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		buf.WriteString(k)
		buf.WriteByte('=')
		buf.WriteString(envQuote(s))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// envQuote writes a value so that parseEnv reads it back unchanged.
func envQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\"'#$\\`") {
		return s
	}
	if s == "" {
		return ""
	}
	if !strings.ContainsAny(s, "'\r\n") {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
