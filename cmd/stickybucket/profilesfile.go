package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stickybucket/stickybucket/ups"
)

// loadProfiles reads a JSON array of Optimizely profiles. A missing file is
// an empty list: the first run of a series starts with no profiles.
func loadProfiles(path string) ([]ups.Profile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("profiles file %s: must be a JSON array of profiles: %v", path, err)
	}
	profiles := make([]ups.Profile, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &profiles[i]); err != nil {
			return nil, fmt.Errorf("profiles file %s: element %d: %w", path, i, err)
		}
	}
	return profiles, nil
}

// saveProfiles writes the profiles atomically: a crash leaves either the
// old file or the new one, never half of one.
func saveProfiles(path string, profiles []ups.Profile) (err error) {
	if profiles == nil {
		profiles = []ups.Profile{}
	}
	data, err := json.MarshalIndent(profiles, "", "  ")
	if err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	return nil
}
