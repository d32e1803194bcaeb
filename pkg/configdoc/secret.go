package configdoc

import (
	"slices"
	"strings"
	"unicode"
)

// secretStems make a word secret-looking wherever they stand in it, so names written as one
// word count too: "PGPASSWORD", "dbpassword", "AUTHTOKEN", "accessToken".
var secretStems = []string{"password", "passwd", "passphrase", "secret", "token", "credential"}

// notSecretWords hold a secret stem yet name no secret. They are checked first.
var notSecretWords = map[string]bool{
	"tokenize": true, "tokenized": true, "tokenizer": true, "tokenizers": true, "tokenization": true,
	"secretary": true, "secretaries": true, "secretariat": true,
	"bypass": true, "compass": true, "encompass": true, "overpass": true, "underpass": true,
	"surpass": true, "trespass": true,
}

// secretEndings make a word secret-looking when it is one of them or ends with one ("pgpass",
// "dbpwd", "sentrydsn"). They are too short to count inside a word ("passenger").
var secretEndings = []string{"pass", "pwd", "creds", "dsn"}

// secretWords are whole words that make a key's name secret-looking.
var secretWords = map[string]bool{"auth": true, "authorization": true}

// keyQualifiers are the words that make a following "key" or "keys" secret ("api_key",
// "privateKey", "AWS_ACCESS_KEY", "tls.key", "hmacKey"), also written as one word with it
// ("apikey", "sslkey"); "key" on its own is not.
var keyQualifiers = []string{
	"api", "private", "access", "secret", "signing", "encryption", "master",
	"tls", "ssl", "client", "hmac", "session", "jwt",
}

// secretCollections are the words that, ending a key's name, make everything under it secret:
// every entry of "credentials", "api_keys" or "secrets" is. A word ending with one counts too
// ("dbpasswords").
var secretCollections = []string{"secrets", "credentials", "creds", "passwords", "tokens"}

// IsSecretKey reports whether a dotted key names a secret value, so its value is hidden from
// viewers and a world-readable file holding it is a problem. Case is ignored, and a name is
// cut into words at '_', '-', other punctuation and camelCase humps ("dbPassword",
// "DB_PASSWORD" and "db-password" are all db + password). A key is secret when:
//
//   - its last segment that is not an array index ("tokens" in tokens.0) has a word that
//     contains password, passwd, passphrase, secret, token or credential ("PGPASSWORD",
//     "authtoken", "client_secret"), except tokenize(d/r/rs), tokenization, secretary,
//     secretaries and secretariat; or a word that is or ends with pass, pwd, creds or dsn
//     ("smtp.pass", "PGPASS"; a DSN usually carries a password), except bypass, compass,
//     encompass, overpass, underpass, surpass and trespass; or the word auth or authorization;
//   - or it has the word "key" or "keys" right after api, private, access, secret, signing,
//     encryption, master, tls, ssl, client, hmac, session or jwt ("api_key",
//     "AWS_SECRET_ACCESS_KEY", "signingKey", "hmacKey"), also across a dot ("tls.key") or
//     written as one word ("apikey", "sslkey");
//   - or an earlier segment ends with a collection word — a word that is or ends with secrets,
//     credentials, creds, passwords or tokens, or "keys" after one of the words above — so every
//     entry under "credentials" or "api_keys" is secret (credentials.aws, api_keys.stripe).
//
// "key", "keys", "monkey", "keyspace", "cache.key", "public_key", "bypass", "author" and
// "auth.enabled" are not secret. Names such as "token_ttl" or "password_min_length" are (false
// positives are the safe side). Values are never looked at: a URL with a password in it under a
// key such as "db.url" is not detected; name such keys dsn or password.
func IsSecretKey(key string) bool {
	segs := strings.Split(key, ".")
	last := len(segs) - 1
	for last >= 0 && isIndex(segs[last]) {
		last--
	}
	if last < 0 {
		return false
	}
	prev := "" // the last word of the segment before the last, for "tls.key"
	if last > 0 {
		if w := words(segs[last-1]); len(w) > 0 {
			prev = w[len(w)-1]
		}
	}
	if secretName(prev, words(segs[last])) {
		return true
	}
	for _, s := range segs[:last] {
		if w := words(s); len(w) > 0 && isCollection(w) {
			return true
		}
	}
	return false
}

// secretName reports whether the words of a key's last segment name a secret; prev is the
// word before them (of the segment before), or "".
func secretName(prev string, ws []string) bool {
	for i, w := range ws {
		if secretWord(w) {
			return true
		}
		before := prev
		if i > 0 {
			before = ws[i-1]
		}
		if (w == "key" || w == "keys") && isKeyQualifier(before) {
			return true
		}
	}
	return false
}

// secretWord reports whether one word is secret-looking on its own.
func secretWord(w string) bool {
	if notSecretWords[w] {
		return false
	}
	if secretWords[w] || qualifiedKey(w) {
		return true
	}
	for _, s := range secretStems {
		if strings.Contains(w, s) {
			return true
		}
	}
	for _, s := range secretEndings {
		if strings.HasSuffix(w, s) {
			return true
		}
	}
	return false
}

// qualifiedKey reports whether w is, or ends with, a key qualifier and "key" or "keys" written
// as one word: "apikey", "stripeapikeys", "sslkey"; not "monkey".
func qualifiedKey(w string) bool {
	stem, ok := strings.CutSuffix(w, "key")
	if !ok {
		stem, ok = strings.CutSuffix(w, "keys")
	}
	if !ok {
		return false
	}
	for _, q := range keyQualifiers {
		if strings.HasSuffix(stem, q) {
			return true
		}
	}
	return false
}

func isKeyQualifier(w string) bool {
	return slices.Contains(keyQualifiers, w)
}

// isCollection reports whether the words of a segment end with a collection word.
func isCollection(ws []string) bool {
	n := len(ws)
	w := ws[n-1]
	if notSecretWords[w] {
		return false
	}
	for _, c := range secretCollections {
		if strings.HasSuffix(w, c) {
			return true
		}
	}
	if strings.HasSuffix(w, "keys") && qualifiedKey(w) {
		return true
	}
	return w == "keys" && n > 1 && isKeyQualifier(ws[n-2])
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// words cuts a name into lowercase words at non-alphanumerics and camelCase humps:
// "dbPassword" → db, password; "APIKey" → api, key; "oauth2_token" → oauth2, token.
func words(name string) []string {
	var out []string
	rs := []rune(name)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			out = append(out, strings.ToLower(string(rs[start:end])))
		}
		start = -1
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start >= 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush(i)
			}
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(rs))
	return out
}
