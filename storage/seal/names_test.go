package seal

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNamespace(t *testing.T) {
	valid := []string{"a", "sensors", "ulb-library.1", "0_x", strings.Repeat("a", MaxNameLen)}
	for _, name := range valid {
		if err := ValidateNamespace(name); err != nil {
			t.Errorf("ValidateNamespace(%q) = %v, want nil", name, err)
		}
	}
	invalid := map[string]string{
		"":                                "is 0 bytes",
		strings.Repeat("a", MaxNameLen+1): "is 65 bytes",
		"Sensors":                         "has 'S' at byte 0",
		"a b":                             "has ' ' at byte 1",
		"a/b":                             "has '/' at byte 1",
		".hidden":                         "must start with",
		"-flag":                           "must start with",
		"ünï":                             "has",
	}
	for name, want := range invalid {
		err := ValidateNamespace(name)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateNamespace(%q) = %v, want ErrInvalidName", name, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateNamespace(%q) = %q, want it to contain %q", name, err, want)
		}
	}
}

func TestValidateGroupReservesHeader(t *testing.T) {
	if err := ValidateGroup("guardians"); err != nil {
		t.Errorf("ValidateGroup(guardians) = %v", err)
	}
	if err := ValidateGroup(RoleHeader); !errors.Is(err, ErrInvalidName) {
		t.Errorf("ValidateGroup(%q) = %v, want ErrInvalidName", RoleHeader, err)
	}
}

func TestValidateKey(t *testing.T) {
	valid := []string{"k", "sensors/R1/2006-11-13T17:14", "温度/部屋", strings.Repeat("x", MaxKeyLen)}
	for _, key := range valid {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	invalid := map[string]string{
		"":                               "is empty",
		strings.Repeat("x", MaxKeyLen+1): "is 1025 bytes, limit 1024",
		"bad\xffutf8":                    "not valid UTF-8",
		"a\x00b":                         "NUL",
	}
	for key, want := range invalid {
		err := ValidateKey(key)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateKey(%.20q) = %v, want ErrInvalidName", key, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateKey(%.20q) = %q, want it to contain %q", key, err, want)
		}
	}
}
