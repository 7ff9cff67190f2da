package seal

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Name limits.
const (
	// MaxNameLen is the longest namespace or group name, in bytes.
	MaxNameLen = 64
	// MaxKeyLen is the longest record key, in bytes. Keys are hashed, so
	// the limit bounds only the encrypted header, where the name is kept.
	MaxKeyLen = 1024
	// MaxFieldNameLen is the longest field name in a group, in bytes.
	MaxFieldNameLen = 64
)

// ValidateNamespace checks a namespace name: 1 to 64 bytes of [a-z0-9._-],
// starting with a letter or digit. The rule keeps names safe as folder
// names, URL path segments and CLI arguments.
func ValidateNamespace(name string) error {
	return validateSlug("namespace", name)
}

// ValidateGroup checks a field group name, for example "public" or
// "guardians", with the namespace rule. RoleHeader is reserved.
func ValidateGroup(name string) error {
	if name == RoleHeader {
		return fmt.Errorf("%w: group name %q is reserved for the header key", ErrInvalidName, name)
	}
	return validateSlug("group", name)
}

func validateSlug(kind, name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %s %q is %d bytes; use 1 to %d", ErrInvalidName, kind, name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !isSlugByte(name[i]) {
			return fmt.Errorf("%w: %s %q has %q at byte %d; use only a-z, 0-9, '.', '_' and '-'",
				ErrInvalidName, kind, name, name[i], i)
		}
	}
	if !isLowerAlnum(name[0]) {
		return fmt.Errorf("%w: %s %q must start with a-z or 0-9", ErrInvalidName, kind, name)
	}
	return nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
func isSlugByte(c byte) bool   { return isLowerAlnum(c) || c == '.' || c == '_' || c == '-' }

// ValidateKey checks a record key: 1 to MaxKeyLen bytes of valid UTF-8
// without NUL. NUL is reserved so that PrefixHash inputs can never equal a
// record key.
func ValidateKey(key string) error {
	return validateText("key", key, MaxKeyLen)
}

func validateText(kind, s string, limit int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidName, kind)
	case len(s) > limit:
		return fmt.Errorf("%w: %s %.32q… is %d bytes, limit %d", ErrInvalidName, kind, s, len(s), limit)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidName, kind, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidName, kind, s)
	}
	return nil
}
