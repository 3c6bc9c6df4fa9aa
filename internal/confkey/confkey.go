// Package confkey carries configuration problems that name the key they are
// about, so the config loader can add the section prefix and the file:line
// where the key was written. Each stage package validates its own section and
// returns these; only the loader knows about files.
package confkey

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem with one configuration key.
type Error struct {
	// Key is the dotted path below the section, e.g. "limits[0].rate".
	Key string
	// Msg says what is wrong, including the bad value where that helps
	// (never a secret).
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// Errorf builds an *Error for key.
func Errorf(key, format string, args ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Prefix puts prefix (e.g. "ratelimit") in front of the key of every *Error
// inside err (which may be an errors.Join of several). Other errors are kept
// and reported under the prefix as a whole.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Flatten(err) {
		var ke *Error
		if errors.As(e, &ke) {
			k := ke.Key
			switch {
			case k == "":
				k = prefix
			case strings.HasPrefix(k, "["):
				k = prefix + k
			default:
				k = prefix + "." + k
			}
			out = append(out, &Error{Key: k, Msg: ke.Msg})
			continue
		}
		out = append(out, &Error{Key: prefix, Msg: e.Error()})
	}
	return errors.Join(out...)
}

// Flatten returns the leaves of a tree of errors.Join errors.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// ByteSize is a size in bytes written as a number or with a unit:
// "512", "64KiB", "10MiB", "1GiB", "10MB" (decimal units are powers of 1000).
type ByteSize int64

// ParseByteSize reads a size such as "10MiB".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512, 64KiB, 10MiB)", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalText lets YAML and JSON decoders read sizes with units.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
