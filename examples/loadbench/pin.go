// Process pinning: which CPUs the generator, the sample CRM and the proxy
// under test run on (-cpus), through taskset.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
)

const pinnedEnv = "CRMGW_LOADBENCH_PINNED"

func canPin() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && runtime.NumCPU() >= 2
}

func defaultLayout() string {
	if canPin() {
		return "proxy"
	}
	return "shared"
}

// onCPU0 runs name with args on CPU 0 in the pinned layouts.
func onCPU0(name string, args ...string) *exec.Cmd {
	if layout == "shared" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", "0", name}, args...)...)
}

// repin runs this program again on CPUs 1..n-1.
func repin() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cpus := fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	// The layout goes along explicitly: on one CPU, the default would be shared.
	args := append([]string{"-c", cpus, exe}, os.Args[1:]...)
	args = append(args, "-cpus", layout)
	cmd := exec.Command("taskset", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pinnedEnv+"="+strconv.Itoa(runtime.NumCPU()))
	return cmd.Run()
}
