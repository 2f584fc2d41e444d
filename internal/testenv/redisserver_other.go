//go:build !linux

package testenv

import "syscall"

// killWithParent returns nil: only Linux can tie a child's life to its
// parent's. The test's cleanup still kills the servers it started.
func killWithParent() *syscall.SysProcAttr { return nil }
