package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithParent ends the server with the test binary, even when go test's
// timeout kills it before TestMain can stop the server.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
