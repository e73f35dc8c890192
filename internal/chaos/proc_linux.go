package chaos

import "syscall"

// sysProcAttr makes a child die with the chaos run (SIGKILL when its parent thread
// exits), so that no process outlives an interrupted run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
