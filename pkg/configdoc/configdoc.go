// Package configdoc reduces a service configuration, whatever its file format (YAML, JSON, TOML
// or .env), to one canonical form, so that the agent (reading the file) and the hub (holding the
// desired config as a JSON object) compare the same thing: a Flat map of dotted keys to string
// values, and its Checksum.
//
// # Canonical form
//
//   - Nested maps become dotted keys: {"db": {"pool": {"max": 20}}} is db.pool.max=20. A key
//     already holding a dot is kept as written, so {"db.url": "x"} and {"db": {"url": "x"}}
//     both give db.url; a document holding both is refused (the key appears twice). An empty
//     key is refused.
//   - Arrays become indexed keys: {"hosts": ["a", "b"]} is hosts.0=a and hosts.1=b.
//   - An empty map or an empty array is its key with the value "" (so "a: {}", "a: []",
//     "a: null" and a: "" all give a=""). An empty document is an empty Flat.
//   - Strings are kept as is. Booleans are "true" and "false". Null is "".
//   - Integers (YAML and TOML integers, JSON numbers written without a fraction or exponent)
//     are written in decimal: 0x1F in YAML or TOML is "31".
//   - Other numbers are float64 values written in decimal without an exponent, with the fewest
//     digits that read back as the same float64, when 1e-6 <= |n| < 1e21 (so YAML, JSON and
//     TOML 1.5 are all "1.5", and JSON 1e3, YAML 1000.0 and TOML 1000 are all "1000"); outside
//     that range in exponent form as Go's strconv 'e' -1 writes it ("1e-07", "1e+21"). Zero is
//     "0" (also -0.0). Infinities and NaN (YAML .inf, TOML inf/nan) are "inf", "-inf" and "nan".
//   - Timestamps with an offset (YAML and TOML) are RFC 3339 with the offset as written
//     ("2024-05-01T10:00:00+02:00", "…Z"), fraction digits trimmed. A date is "2024-05-01"; a
//     date-time without an offset (a TOML local date-time, a YAML "2024-05-01 10:00:00") is
//     "2024-05-01T10:00:00"; a TOML local time is "10:00:00". JSON has no timestamps: a JSON
//     string holding one is kept as written, which matches when written in the forms above.
//   - A document is nested at most MaxDepth (64) levels deep: the top-level map is level 1 and
//     every map or array inside another adds one, so a flattened key has at most 64 parts.
//     Parse refuses a deeper document before its parser runs (ErrTooDeep), FromObject a deeper
//     object.
//   - .env files hold KEY=value lines and give their keys and values as written (after the
//     quoting rules below): every value is a string, so PORT=8080 matches a JSON 8080 and
//     RATIO=1.50 does not match a JSON 1.5. Keys are case-sensitive everywhere.
//
// # .env syntax
//
// One KEY=value per line. Blank lines and lines starting with # are skipped; an `export `
// prefix is allowed. A key is letters, digits, '_', '.' and '-', starting with a letter or
// '_'. A value is unquoted (trimmed; a # preceded by a space or tab starts a comment),
// single-quoted (taken literally) or double-quoted (escapes \n, \r, \t, \" and \\; any other
// backslash is kept as written). A quoted value ends on its line and may be followed only by
// a comment. There is no variable interpolation: $HOME is the five characters "$HOME". A key
// set twice is an error.
//
// # Checksum
//
// Checksum is "sha256:" and the lowercase hex SHA-256 of the pairs in key order, each key and
// each value written as a netstring ("<byte length>:<bytes>,"), so no two different Flats
// share a checksum input.
package configdoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The formats Parse and Render take.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
	FormatTOML = "toml"
	FormatEnv  = "env"
)

// Formats lists every format Parse and Render take.
var Formats = []string{FormatYAML, FormatJSON, FormatTOML, FormatEnv}

// Redacted replaces the value of a secret-looking key wherever a value must not be shown.
const Redacted = "<redacted>"

// ErrFormat is wrapped by the errors of Parse, Render and FormatOf for an unknown format.
var ErrFormat = errors.New("unknown config format")

// MaxDepth is how deep a document may nest: the top-level map is level 1, and every map or
// array inside another adds one. It keeps the parsers, which recurse per level, and
// flattening, which writes each level's dotted key, cheap on any input.
const MaxDepth = 64

// ErrTooDeep is wrapped by the errors of Parse and FromObject for a document nested deeper
// than MaxDepth.
var ErrTooDeep = fmt.Errorf("nested deeper than %d levels", MaxDepth)

// Flat is a configuration in canonical form: dotted key → string value.
type Flat map[string]string

// Parse reads data in format ("yaml", "json", "toml" or "env") into its canonical form. The
// document must be a map (an empty document is an empty Flat). Errors name the line, or the
// key, where the parser can, and never quote a value of the document: what a parser quotes of
// its input is replaced by "…", so an error is safe to report and show.
func Parse(format string, data []byte) (Flat, error) {
	switch format {
	case FormatYAML:
		return parseYAML(data)
	case FormatJSON:
		return parseJSON(data)
	case FormatTOML:
		return parseTOML(data)
	case FormatEnv:
		return parseEnv(data)
	}
	return nil, fmt.Errorf("%w %q: want yaml, json, toml or env", ErrFormat, format)
}

// FormatOf tells a file's format from its name (case ignored): .yaml or .yml, .json, .toml,
// and env for ".env", a name starting with ".env." (".env.local") or ending in ".env"
// ("orders.env"). Anything else, ".envrc" included, is an ErrFormat error.
func FormatOf(path string) (string, error) {
	base := strings.ToLower(filepath.Base(path))
	switch ext := filepath.Ext(base); {
	case ext == ".yaml" || ext == ".yml":
		return FormatYAML, nil
	case ext == ".json":
		return FormatJSON, nil
	case ext == ".toml":
		return FormatTOML, nil
	case ext == ".env" || strings.HasPrefix(base, ".env."):
		return FormatEnv, nil
	}
	return "", fmt.Errorf("%w: cannot tell the format of %q from its name (want .yaml, .yml, .json, .toml or .env)", ErrFormat, path)
}

// FromObject flattens a JSON object, as decoded by a json.Decoder with UseNumber, into its
// canonical form. It also takes the other types Go code may hold: every integer and float
// type, time.Time, []any, map[string]any and map[any]any. An object nested deeper than
// MaxDepth is an ErrTooDeep error.
func FromObject(obj map[string]any) (Flat, error) {
	f := Flat{}
	if err := f.addMap("", obj, 1); err != nil {
		return nil, err
	}
	return f, nil
}

// Checksum returns "sha256:" and the hex SHA-256 of f's pairs in key order, each key and value
// written as a netstring. Equal Flats have equal checksums, whatever format they came from.
func (f Flat) Checksum() string {
	h := sha256.New()
	var b []byte
	for _, k := range f.Keys() {
		b = appendNetstring(b[:0], k)
		b = appendNetstring(b, f[k])
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func appendNetstring(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ',')
}

// Keys returns f's keys in byte order.
func (f Flat) Keys() []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Redacted returns a copy of f in which the value of every key that IsSecretKey is Redacted.
func (f Flat) Redacted() Flat {
	out := make(Flat, len(f))
	for k, v := range f {
		if IsSecretKey(k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// Difference is one key on which a config differs from the desired one. It never holds a value.
type Difference struct {
	Key    string
	Reason string // DiffMissing, DiffDiffers or DiffUnexpected
}

// The reasons of a Difference.
const (
	DiffMissing    = "missing"    // the desired config has the key; the file lacks it
	DiffDiffers    = "differs"    // both have the key, with different values
	DiffUnexpected = "unexpected" // the file has the key; the desired config lacks it
)

// Diff lists the keys on which have (the file) differs from want (the desired config), sorted
// by key; nil when they are equal.
func Diff(have, want Flat) []Difference {
	var out []Difference
	for k, w := range want {
		h, ok := have[k]
		switch {
		case !ok:
			out = append(out, Difference{k, DiffMissing})
		case h != w:
			out = append(out, Difference{k, DiffDiffers})
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			out = append(out, Difference{k, DiffUnexpected})
		}
	}
	slices.SortFunc(out, func(a, b Difference) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// RedactObject returns a deep copy of obj in which every value whose canonical key IsSecretKey
// is Redacted: the same keys Flat.Redacted hides, so flattening the copy gives
// FromObject(obj).Redacted(). Other values are copied unchanged (json.Number stays
// json.Number). A map or array deeper than MaxDepth, which has no canonical form, is Redacted
// whole.
func RedactObject(obj map[string]any) map[string]any {
	out, _ := redactValue("", obj, 1).(map[string]any)
	return out
}

// redactValue is RedactObject for the value v at key, at level depth if it is a map or array.
func redactValue(key string, v any, depth int) any {
	switch v := v.(type) {
	case map[string]any:
		if (len(v) == 0 && key != "" && IsSecretKey(key)) || depth > MaxDepth {
			return Redacted
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = redactValue(joinKey(key, k), e, depth+1)
		}
		return out
	case []any:
		if (len(v) == 0 && IsSecretKey(key)) || depth > MaxDepth {
			return Redacted
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(joinKey(key, strconv.Itoa(i)), e, depth+1)
		}
		return out
	default:
		if key != "" && IsSecretKey(key) {
			return Redacted
		}
		return v
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// addMap adds the entries of a map under prefix ("" at the top); depth is the map's level.
func (f Flat) addMap(prefix string, m map[string]any, depth int) error {
	if depth > MaxDepth {
		return tooDeepError(prefix)
	}
	if len(m) == 0 && prefix != "" {
		return f.set(prefix, "")
	}
	for k, v := range m {
		if k == "" {
			return emptyKeyError(prefix)
		}
		if err := f.add(joinKey(prefix, k), v, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func emptyKeyError(prefix string) error {
	if prefix == "" {
		return errors.New("empty key at the top level")
	}
	return fmt.Errorf("key %q: holds an empty key", prefix)
}

// tooDeepError is the ErrTooDeep error of the map or array at key, named by its first 64
// bytes: its key has MaxDepth parts, which may be long.
func tooDeepError(key string) error {
	if len(key) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "…"
	}
	return fmt.Errorf("key %q: %w", key, ErrTooDeep)
}

// add adds value v under key, flattening maps and arrays; depth is v's level if it is one.
func (f Flat) add(key string, v any, depth int) error {
	switch v := v.(type) {
	case map[string]any:
		return f.addMap(key, v, depth)
	case map[any]any:
		if depth > MaxDepth {
			return tooDeepError(key)
		}
		if len(v) == 0 {
			return f.set(key, "")
		}
		for k, e := range v {
			ks, err := scalar(k)
			if err != nil {
				return fmt.Errorf("key %q: a map key: %w", key, err)
			}
			if ks == "" {
				return emptyKeyError(key)
			}
			if err := f.add(joinKey(key, ks), e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if depth > MaxDepth {
			return tooDeepError(key)
		}
		if len(v) == 0 {
			return f.set(key, "")
		}
		for i, e := range v {
			if err := f.add(joinKey(key, strconv.Itoa(i)), e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []map[string]any: // TOML arrays of tables
		if depth > MaxDepth {
			return tooDeepError(key)
		}
		if len(v) == 0 {
			return f.set(key, "")
		}
		for i, e := range v {
			if err := f.addMap(joinKey(key, strconv.Itoa(i)), e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	s, err := scalar(v)
	if err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return f.set(key, s)
}

func (f Flat) set(key, value string) error {
	if _, dup := f[key]; dup {
		return fmt.Errorf("key %q appears twice (a key written with dots collides with a nested one)", key)
	}
	f[key] = value
	return nil
}

// scalar writes one scalar value in canonical form.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		return number(string(v))
	case int:
		return strconv.FormatInt(int64(v), 10), nil
	case int8:
		return strconv.FormatInt(int64(v), 10), nil
	case int16:
		return strconv.FormatInt(int64(v), 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float32:
		// The float32's own shortest digits, not those of its float64 widening (1.1, not
		// 1.100000023841858).
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
		return float(f), nil
	case float64:
		return float(v), nil
	case time.Time:
		return timestamp(v), nil
	}
	return "", fmt.Errorf("unsupported value of type %T", v)
}

// number writes a JSON number literal in canonical form: an integer literal exactly, anything
// else as a float64.
func number(lit string) (string, error) {
	if !strings.ContainsAny(lit, ".eE") {
		if i, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return strconv.FormatInt(i, 10), nil
		}
		if u, err := strconv.ParseUint(lit, 10, 64); err == nil {
			return strconv.FormatUint(u, 10), nil
		}
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("bad number %q", lit)
	}
	return float(f), nil
}

// float writes a float64 in canonical form (see the package comment).
func float(f float64) string {
	switch abs := math.Abs(f); {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		return "0"
	case abs >= 1e-6 && abs < 1e21:
		return strconv.FormatFloat(f, 'f', -1, 64)
	default:
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
}

// Layouts of the timestamps that carry no offset, named as BurntSushi/toml names the
// locations it gives them.
const (
	layoutLocalDatetime = "2006-01-02T15:04:05.999999999"
	layoutLocalDate     = "2006-01-02"
	layoutLocalTime     = "15:04:05.999999999"
)

// timestamp writes a time in canonical form: RFC 3339 with its offset, or one of the local
// layouts for TOML's local date-times, dates and times.
func timestamp(t time.Time) string {
	switch t.Location().String() {
	case "datetime-local":
		return t.Format(layoutLocalDatetime)
	case "date-local":
		return t.Format(layoutLocalDate)
	case "time-local":
		return t.Format(layoutLocalTime)
	}
	return t.Format(time.RFC3339Nano)
}

// lineCol turns a byte offset into data into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
