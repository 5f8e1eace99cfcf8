// go_http: a net/http server (Go's own netpoller: epoll, a pipe, non-blocking sockets)
// that serves the host's load (tools/netclient httpload: concurrent connections, keep-alive
// and a new connection per request), then exits once it has served them all.
// Usage: go_http PORT REQUESTS
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Println("usage: go_http PORT REQUESTS")
		os.Exit(2)
	}
	want, _ := strconv.ParseInt(os.Args[2], 10, 64)
	ln, err := net.Listen("tcp4", ":"+os.Args[1])
	if err != nil {
		fmt.Println("go_http: listen:", err)
		os.Exit(1)
	}
	// done once every request was answered and every connection closed (the client
	// closes each after its last answer): an exit any sooner could cut an answer short
	var mu sync.Mutex
	served, open := int64(0), 0
	done := make(chan bool)
	check := func() {
		if served == want && open == 0 {
			close(done)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// the body names the path, so the client can tell each answer is its own
		fmt.Fprintf(w, "hello from go: %s\n", r.URL.Path)
		mu.Lock()
		served++
		mu.Unlock()
	})
	srv := &http.Server{Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open++
		case http.StateClosed, http.StateHijacked:
			open--
			check()
		}
	}}
	fmt.Printf("go_http: http server on port %s\n", os.Args[1])
	go srv.Serve(ln)
	<-done
	fmt.Printf("go_http: served %d requests\n", served)
}
