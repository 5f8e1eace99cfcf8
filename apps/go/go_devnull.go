// go_devnull: the paper's system-call test in Go: N one-byte writes to /dev/null through
// os.OpenFile (a *os.File, polled by the runtime where it can be). Prints the time per
// write as a bench: line (not compared with Linux's).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("go_devnull: open:", err)
		os.Exit(1)
	}
	b := []byte{'x'}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := f.Write(b); err != nil {
			fmt.Println("go_devnull: write:", err)
			os.Exit(1)
		}
	}
	d := time.Since(t0)
	f.Close()
	fmt.Printf("go_devnull: %d writes\n", n)
	fmt.Printf("bench: go_devnull: %d ns per write, %.3f s in all\n", d.Nanoseconds()/int64(n), d.Seconds())
}
