// go_exec: Go's os/exec, as a Go service starts a helper program: the runtime forks with
// clone(CLONE_VM | CLONE_VFORK) and execs, reports an exec's failure through a
// close-on-exec pipe, and waits with waitid and wait4. This program runs itself as the
// child: its output captured, an exit status, standard input fed through a pipe, a
// child that replaces itself by syscall.Exec, a program that does not exist, and 20
// children in a row. Exits 0 when every check held.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "echo" {
		fmt.Println(strings.Join(os.Args[2:], " "))
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "exit" {
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	}
	if len(os.Args) > 1 && os.Args[1] == "cat" {
		io.Copy(os.Stdout, os.Stdin)
		return
	}
	// syscall.Exec from a Go program, whose runtime has several threads running: the
	// kernel ends them and runs the new program alone
	if len(os.Args) > 2 && os.Args[1] == "reexec" {
		err := syscall.Exec(os.Args[0], []string{os.Args[0], "echo", os.Args[2]}, nil)
		fmt.Println("syscall.Exec:", err)
		os.Exit(1)
	}
	failed := 0
	check := func(ok bool, format string, a ...interface{}) {
		fmt.Printf("go_exec: "+format+"\n", a...)
		if !ok {
			failed++
		}
	}
	self, err := os.Executable()
	check(err == nil && strings.HasSuffix(self, "go_exec"), "its own program: %v",
		err == nil && strings.HasSuffix(self, "go_exec"))

	out, err := exec.Command(self, "echo", "hello", "from", "a", "child").Output()
	check(err == nil && string(out) == "hello from a child\n", "output %q, error %v", out, err)

	err = exec.Command(self, "exit", "3").Run()
	var ee *exec.ExitError
	code := -1
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	check(code == 3, "a child's exit status: %d", code)

	cmd := exec.Command(self, "cat")
	cmd.Stdin = strings.NewReader("fed through a pipe\n")
	out, err = cmd.Output()
	check(err == nil && string(out) == "fed through a pipe\n", "standard input to output %q, error %v",
		out, err)

	out, err = exec.Command(self, "reexec", "after syscall.Exec").Output()
	check(err == nil && string(out) == "after syscall.Exec\n", "a child that replaces itself by syscall.Exec (the Go runtime's threads running): output %q, error %v", out, err)

	_, err = exec.Command("/bin/no-such-program").Output()
	check(errors.Is(err, os.ErrNotExist), "a program that does not exist: %v", err)

	n := 0
	for i := 0; i < 20; i++ {
		if exec.Command(self, "exit", "0").Run() == nil {
			n++
		}
	}
	check(n == 20, "%d of 20 children in a row exited 0", n)
	fmt.Printf("go_exec: %d checks failed\n", failed)
	if failed > 0 {
		os.Exit(1)
	}
}
