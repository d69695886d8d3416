package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// dumpStacksOnSignal writes every goroutine's stack to a file in dir each
// time the daemon gets SIGUSR1, as dockerd does, and logs where: the way
// to see what a daemon that stopped answering is waiting for, without
// stopping it.
func dumpStacksOnSignal(dir string, log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			path, err := dumpStacks(dir)
			if err != nil {
				log.Error("writing goroutine stacks", "err", err)
				continue
			}
			log.Info("goroutine stacks written", "path", path)
		}
	}()
}

func dumpStacks(dir string) (string, error) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	path := filepath.Join(dir, fmt.Sprintf("goroutine-stacks-%s.log", time.Now().UTC().Format("2006-01-02T150405.000000000Z")))
	return path, os.WriteFile(path, buf, 0o600)
}
