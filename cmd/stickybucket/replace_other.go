//go:build !linux

package main

import (
	"errors"
	"io/fs"
	"os"
)

var errNoUnnamed = errors.New("unnamed temporary files are Linux-only")

// openUnnamed is Linux-only; elsewhere replaceFile uses a named temporary
// file, removed on every error.
func openUnnamed(string, fs.FileMode) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(*os.File, string) error { return errNoUnnamed }

// keepOwner is Linux-only; elsewhere the new file has the process's owner.
func keepOwner(*os.File, fs.FileInfo) {}

// hardLinks is Linux-only; elsewhere no warning is given.
func hardLinks(fs.FileInfo) uint64 { return 1 }
