//go:build !linux

package testenv

import (
	"errors"
	"os"
	"syscall"
)

// killWithParent returns nil: only Linux can tie a child's life to its
// parent's. The test's cleanup still kills the servers it started.
func killWithParent() *syscall.SysProcAttr { return nil }

// stopProcess fails: suspending a process is only done on Linux here.
func stopProcess(*os.Process) error {
	return errors.New("testenv: suspending a process is supported on Linux only")
}

// resumeProcess fails, as stopProcess does.
func resumeProcess(*os.Process) error {
	return errors.New("testenv: resuming a process is supported on Linux only")
}
