package configdoc

import (
	"strings"
	"unicode"
)

// secretWords are the words that make a key's name secret-looking, wherever they stand in it.
var secretWords = map[string]bool{
	"password": true, "passwords": true, "passwd": true, "passphrase": true, "pass": true, "pwd": true,
	"secret": true, "secrets": true,
	"token": true, "tokens": true,
	"credential": true, "credentials": true, "creds": true,
	"auth": true, "authorization": true,
	"dsn": true,
	// the "…key" pairs written as one word
	"apikey": true, "apikeys": true, "privatekey": true, "privatekeys": true,
	"accesskey": true, "accesskeys": true, "secretkey": true, "secretkeys": true,
}

// keyQualifiers are the words that make a following "key" or "keys" secret ("api_key",
// "privateKey", "AWS_ACCESS_KEY"); "key" on its own is not.
var keyQualifiers = map[string]bool{
	"api": true, "private": true, "access": true, "secret": true, "signing": true,
	"encryption": true, "master": true,
}

// secretCollections are the words that, ending a key's name, make everything under it secret:
// every entry of "credentials", "api_keys" or "secrets" is.
var secretCollections = map[string]bool{
	"secrets": true, "credentials": true, "creds": true, "passwords": true, "tokens": true,
	"apikeys": true, "privatekeys": true, "accesskeys": true, "secretkeys": true,
}

// IsSecretKey reports whether a dotted key names a secret value, so its value is hidden from
// viewers and a world-readable file holding it is a problem. Case is ignored, and a name is
// cut into words at '_', '-', other punctuation and camelCase humps ("dbPassword",
// "DB_PASSWORD" and "db-password" are all db + password). A key is secret when:
//
//   - its last segment that is not an array index ("tokens" in tokens.0) holds one of the
//     words password(s), passwd, passphrase, pass, pwd, secret(s), token(s), credential(s),
//     creds, auth, authorization, dsn (a DSN usually carries a password), apikey(s),
//     privatekey(s), accesskey(s), secretkey(s); or the word "key" or "keys" right after
//     api, private, access, secret, signing, encryption or master ("api_key",
//     "AWS_SECRET_ACCESS_KEY", "signingKey");
//   - or an earlier segment ends with a collection word — secrets, credentials, creds,
//     passwords, tokens, or one of the "…keys" pairs above — so every entry under
//     "credentials" or "api_keys" is secret (credentials.aws, api_keys.stripe).
//
// Whole words only: "keys", "monkey", "keyspace", "bypass" and "author" are not secret.
// Names such as "token_ttl" or "password_min_length" are (false positives are the safe side).
// Values are never looked at: a URL with a password in it under a key such as "db.url" is not
// detected; name such keys dsn or password.
func IsSecretKey(key string) bool {
	segs := strings.Split(key, ".")
	last := len(segs) - 1
	for last >= 0 && isIndex(segs[last]) {
		last--
	}
	if last < 0 {
		return false
	}
	if secretName(words(segs[last])) {
		return true
	}
	for _, s := range segs[:last] {
		if w := words(s); len(w) > 0 && isCollection(w) {
			return true
		}
	}
	return false
}

func secretName(ws []string) bool {
	for i, w := range ws {
		if secretWords[w] {
			return true
		}
		if (w == "key" || w == "keys") && i > 0 && keyQualifiers[ws[i-1]] {
			return true
		}
	}
	return false
}

func isCollection(ws []string) bool {
	n := len(ws)
	if secretCollections[ws[n-1]] {
		return true
	}
	return ws[n-1] == "keys" && n > 1 && keyQualifiers[ws[n-2]]
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
