package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/centralhub/centralhub/pkg/configdoc"
)

// Defaults of a config check.
const (
	DefaultConfigCheckInterval = 30 * time.Second // how often a config file is checked
	DefaultReloadTimeout       = 30 * time.Second // bound on one run of reload_command
	MinConfigCheckInterval     = time.Second      // the shortest config check interval Validate accepts
)

// ConfigCheck validates one of the service's config files: it exists, parses, holds its
// required keys, is not world-readable when it holds secrets, and (with compare_desired)
// matches the desired config stored on the hub, which apply writes into it.
type ConfigCheck struct {
	Path           string        `yaml:"path"`            // the file; an absolute path, required
	Format         string        `yaml:"format"`          // yaml, json, toml or env; default from the file name
	RequiredKeys   []string      `yaml:"required_keys"`   // dotted keys that must be present (a key naming a section is present when anything is under it)
	Secret         bool          `yaml:"secret"`          // the file holds secrets: world-readable is a problem
	CompareDesired bool          `yaml:"compare_desired"` // compare with the service's desired config on the hub; one check at most
	Apply          bool          `yaml:"apply"`           // write the desired config into the file when it drifted (needs compare_desired)
	ReloadCommand  []string      `yaml:"reload_command"`  // argv run after an apply, no shell; needs apply
	FollowSymlinks bool          `yaml:"follow_symlinks"` // apply may replace the target of a symbolic link at path (default: refuse); needs apply
	ReloadTimeout  time.Duration `yaml:"reload_timeout"`  // default DefaultReloadTimeout
	Interval       time.Duration `yaml:"interval"`        // default DefaultConfigCheckInterval
}

// applyConfigCheckDefaults fills the zero fields of every config check; the format comes from
// the file name when it is not set (and stays empty, for Validate to report, when the name
// does not tell).
func (c *Config) applyConfigCheckDefaults() {
	for i := range c.ConfigChecks {
		cc := &c.ConfigChecks[i]
		if cc.Interval == 0 {
			cc.Interval = DefaultConfigCheckInterval
		}
		if cc.ReloadTimeout == 0 {
			cc.ReloadTimeout = DefaultReloadTimeout
		}
		if cc.Format == "" && cc.Path != "" {
			cc.Format, _ = configdoc.FormatOf(cc.Path)
		}
	}
}

// validateConfigChecks checks the config_checks list and returns the first problem as a
// *FieldError such as "config_checks[1].path: required".
func (c *Config) validateConfigChecks() error {
	seen := make(map[string]int, len(c.ConfigChecks))
	compare := -1
	for i := range c.ConfigChecks {
		cc := &c.ConfigChecks[i]
		at := fmt.Sprintf("config_checks[%d]", i)
		if err := cc.validate(at); err != nil {
			return err
		}
		path := filepath.Clean(cc.Path)
		if j, dup := seen[path]; dup {
			return &FieldError{at + ".path", fmt.Sprintf("%q is already checked by config_checks[%d]", cc.Path, j)}
		}
		seen[path] = i
		if cc.CompareDesired {
			if compare >= 0 {
				return &FieldError{at + ".compare_desired", fmt.Sprintf("config_checks[%d] already compares with the desired config; the hub stores one per service", compare)}
			}
			compare = i
		}
	}
	return nil
}

func (cc *ConfigCheck) validate(at string) error {
	switch {
	case cc.Path == "":
		return &FieldError{at + ".path", "required"}
	case !filepath.IsAbs(cc.Path):
		return &FieldError{at + ".path", fmt.Sprintf("%q: must be an absolute path", cc.Path)}
	}
	if cc.Format == "" {
		_, err := configdoc.FormatOf(cc.Path)
		return &FieldError{at + ".format", fmt.Sprintf("required: %v", err)}
	}
	if !slices.Contains(configdoc.Formats, cc.Format) {
		return &FieldError{at + ".format", fmt.Sprintf("%q: want yaml, json, toml or env", cc.Format)}
	}
	for j, k := range cc.RequiredKeys {
		if k == "" {
			return &FieldError{fmt.Sprintf("%s.required_keys[%d]", at, j), "must not be empty"}
		}
	}
	if cc.Interval < MinConfigCheckInterval {
		return &FieldError{at + ".interval", fmt.Sprintf("must be at least %s", MinConfigCheckInterval)}
	}
	if cc.ReloadTimeout <= 0 {
		return &FieldError{at + ".reload_timeout", "must be greater than 0"}
	}
	if cc.Apply && !cc.CompareDesired {
		return &FieldError{at + ".apply", "needs compare_desired: true (apply writes the desired config)"}
	}
	if cc.FollowSymlinks && !cc.Apply {
		return &FieldError{at + ".follow_symlinks", "needs apply: true (it governs how apply writes)"}
	}
	if len(cc.ReloadCommand) > 0 {
		if !cc.Apply {
			return &FieldError{at + ".reload_command", "needs apply: true (it runs after an apply)"}
		}
		if cc.ReloadCommand[0] == "" {
			return &FieldError{at + ".reload_command", "needs the program and its arguments, such as [\"/usr/bin/systemctl\", \"reload\", \"orders\"]"}
		}
	}
	return nil
}
