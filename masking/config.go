package masking

import (
	"errors"
	"strconv"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Config is the masking section of the configuration file.
type Config struct {
	// HMACKey keys the hash strategy (so hashes are stable for joins but not
	// guessable); without it hash rules redact.
	HMACKey string `yaml:"hmac_key"`
	// HMACKeyFile names a file holding the key instead (a mounted secret);
	// the config loader reads it into HMACKey (docs/deploy.md "Secrets").
	HMACKeyFile string `yaml:"hmac_key_file"`
	// Detectors enabled for every rewritten body ("email", "mobile_cn",
	// "e164", "cn_id", "bank_card").
	Detectors []string `yaml:"detectors"`
	// SpoolDir holds temporary files for ZIP bodies ("" = the OS temp dir).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolLimit caps one spooled ZIP body (default 1GiB).
	SpoolLimit confkey.ByteSize `yaml:"spool_limit"`
}

// SetDefaults fills unset keys.
func (c *Config) SetDefaults() {
	if c.SpoolLimit == 0 {
		c.SpoolLimit = DefaultSpoolLimit
	}
}

// Validate reports every problem of the section at once.
func (c *Config) Validate() error {
	var errs []error
	if c.HMACKey != "" && len(c.HMACKey) < 16 {
		errs = append(errs, confkey.Errorf("hmac_key", "must be at least 16 bytes (got %d)", len(c.HMACKey)))
	}
	for i, d := range c.Detectors {
		if _, ok := detectorNames[d]; !ok {
			errs = append(errs, confkey.Errorf("detectors["+strconv.Itoa(i)+"]", "unknown detector %q (known: %v)", d, DetectorNames()))
		}
	}
	if c.SpoolLimit < 0 {
		errs = append(errs, confkey.Errorf("spool_limit", "must not be negative (got %d)", int64(c.SpoolLimit)))
	}
	return errors.Join(errs...)
}
