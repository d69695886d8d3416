// Command udpecho answers every UDP datagram on :9999 with "echo:" and the
// datagram. The integration tests build it static and bind-mount it into
// a container, because busybox has no UDP server applet.
package main

import (
	"log"
	"net"
)

func main() {
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: 9999})
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 65535)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = c.WriteToUDP(append([]byte("echo:"), buf[:n]...), from)
	}
}
