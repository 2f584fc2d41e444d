package testenv

import (
	"os"
	"syscall"
)

// killWithParent makes a child process die with the test binary, so that a
// test killed by its timeout leaves no server behind.
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stopProcess suspends p with SIGSTOP.
func stopProcess(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// resumeProcess resumes p with SIGCONT.
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
