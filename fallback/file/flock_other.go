//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package file

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

var errNoFlock = fmt.Errorf("file: no flock on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// tryFlock fails: this platform has no flock.
func tryFlock(*os.File) (bool, error) { return false, errNoFlock }

// funlock fails: this platform has no flock.
func funlock(*os.File) error { return errNoFlock }
