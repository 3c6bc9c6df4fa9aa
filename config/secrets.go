package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Secrets from files (docs/deploy.md "Secrets"): each secret key K also
// accepts K_file, the path of a file holding the value (a Kubernetes Secret
// mounted as files, a systemd credential, a Docker secret). The file is
// read once when the configuration is loaded; one trailing newline (LF or
// CRLF) is removed, nothing else, so a secret may begin or end with spaces.
//
// Ways around it and what stops them: setting both K and K_file (which one
// wins?) is an error; an empty or unreadable file is an error naming the
// key and its line, never an empty secret; a path to something huge
// (/dev/zero) is cut at maxSecretFile and refused; a directory is refused.

const maxSecretFile = 64 << 10

// secretFile is one K / K_file pair.
type secretFile struct {
	key   string  // K, with its section, as reported
	file  *string // K_file
	value *string // K
}

func (c *Config) secretFiles() []secretFile {
	out := []secretFile{
		{"masking.hmac_key", &c.Masking.HMACKeyFile, &c.Masking.HMACKey},
		{"ratelimit.redis.password", &c.Ratelimit.Redis.PasswordFile, &c.Ratelimit.Redis.Password},
	}
	for i := range c.Audit.Sinks {
		s := &c.Audit.Sinks[i]
		out = append(out, secretFile{fmt.Sprintf("audit.sinks[%d].token", i), &s.TokenFile, &s.Token})
	}
	for i := range c.Alerts.Sinks {
		s := &c.Alerts.Sinks[i]
		out = append(out, secretFile{fmt.Sprintf("alerts.sinks[%d].token", i), &s.TokenFile, &s.Token})
	}
	return out
}

// readSecretFiles fills every K from its K_file (relative paths from dir)
// and returns one problem per pair that cannot be read.
func (c *Config) readSecretFiles(dir string) []error {
	var errs []error
	for _, s := range c.secretFiles() {
		if *s.file == "" {
			continue
		}
		fileKey := s.key + "_file"
		if *s.value != "" {
			errs = append(errs, confkey.Errorf(fileKey, "set either %s or %s, not both", lastKey(s.key), lastKey(fileKey)))
			continue
		}
		path := *s.file
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		*s.file = path
		v, err := readSecret(path)
		if err != nil {
			errs = append(errs, confkey.Errorf(fileKey, "%v", err))
			continue
		}
		*s.value = v
	}
	return errs
}

func lastKey(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }

// readSecret reads one secret file: at most maxSecretFile bytes, one
// trailing newline removed, not empty.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s cannot be read: %w", path, bareErr(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", fmt.Errorf("%s is a directory, not a file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s cannot be read: %w", path, bareErr(err))
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", errors.New(path + " is empty")
	}
	return s, nil
}

// bareErr drops the path an *os.PathError repeats.
func bareErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
