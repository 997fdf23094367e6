// Command linkproxy is a TCP proxy whose link can be cut and restored, for end-to-end tests that
// take a tablet offline the way the field does: at the TCP level, not with a flag in the agent.
//
//	linkproxy -listen 127.0.0.1:0 -target 127.0.0.1:7422 -addr-file /tmp/proxy.addr
//	kill -USR1 <pid>   cut: close every connection and refuse new ones
//	kill -USR2 <pid>   restore
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "address to forward to")
	addrFile := flag.String("addr-file", "", "write the listen address here once listening")
	flag.Parse()
	if *target == "" {
		log.Fatal("linkproxy: -target is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(ln.Addr().String())
	p := &proxy{target: *target, conns: map[net.Conn]bool{}}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sig {
			switch s {
			case syscall.SIGUSR1:
				p.setDown(true)
				log.Print("linkproxy: link cut")
			case syscall.SIGUSR2:
				p.setDown(false)
				log.Print("linkproxy: link restored")
			default:
				os.Exit(0)
			}
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go p.serve(c)
	}
}

type proxy struct {
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}
