// go_par: the Go runtime on every vCPU: GOMAXPROCS left at its default (the CPU count from
// sched_getaffinity), goroutines over channels, a mutex, a forced GC, sleeps and timers; a
// nil dereference recovered as a panic (SIGSEGV and its handler's frame), a tight loop
// preempted (SIGURG sent by tgkill to a thread that makes no system call). Every line is the
// same on Linux.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// reads through a nil pointer: the runtime's SIGSEGV handler turns the fault into a panic
func nilDeref() (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	var p *int
	return fmt.Sprint(*p)
}

// with one P, main runs again only if the loop (no calls, so no cooperative preemption
// point) is preempted asynchronously: SIGURG, and the handler's change to its context
func preempt() bool {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	var stop, started int32
	done := make(chan bool)
	go func() {
		atomic.StoreInt32(&started, 1)
		n := 0
		for atomic.LoadInt32(&stop) == 0 {
			n++
		}
		done <- n > 0
	}()
	for atomic.LoadInt32(&started) == 0 {
		runtime.Gosched()
	}
	time.Sleep(30 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	return <-done
}

func main() {
	fmt.Println("go_par: GOMAXPROCS is the CPU count:", runtime.GOMAXPROCS(0) == runtime.NumCPU())
	// a pipeline: numbers, squares (4 workers), a sum
	nums, squares := make(chan int64), make(chan int64, 16)
	go func() {
		for i := int64(1); i <= 100000; i++ {
			nums <- i
		}
		close(nums)
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range nums {
				squares <- n * n % 1000003
			}
		}()
	}
	go func() { wg.Wait(); close(squares) }()
	var sum int64
	for s := range squares {
		sum += s
	}
	fmt.Println("go_par: pipeline sum", sum)
	// a mutex under 8 goroutines
	var mu sync.Mutex
	count := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 20000; i++ {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Println("go_par: mutex count", count)
	// garbage, and a forced collection
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	var keep [][]byte
	for i := 0; i < 2000; i++ {
		b := make([]byte, 16<<10)
		b[i%len(b)] = byte(i)
		if i%100 == 0 {
			keep = append(keep, b)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Println("go_par: a GC ran:", ms.NumGC > gc0, "kept", len(keep))
	// sleeps and timers
	t0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	slept := time.Since(t0) >= 20*time.Millisecond
	timer := time.NewTimer(10 * time.Millisecond)
	fired := make(chan bool, 1)
	time.AfterFunc(5*time.Millisecond, func() { fired <- true })
	<-timer.C
	fmt.Println("go_par: slept 20 ms:", slept, "timer and AfterFunc fired:", <-fired)
	ticker := time.NewTicker(2 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-ticker.C
	}
	ticker.Stop()
	fmt.Println("go_par: 5 ticks")
	fmt.Println("go_par: nil dereference:", nilDeref())
	fmt.Println("go_par: nil dereference again:", nilDeref())
	fmt.Println("go_par: a tight loop was preempted:", preempt())
}
