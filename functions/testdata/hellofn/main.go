// Command hellofn is a test function built with aws-lambda-go, the way a
// user writes one: it echoes its event, fails on request, sleeps, or
// allocates memory, so tests can drive every outcome of an invocation.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Key1     string `json:"key1"`
	Fail     string `json:"fail"`
	SleepMs  int    `json:"sleepMs"`
	AllocMB  int    `json:"allocMB"`
	PrintLog string `json:"print"`
	// DetailType is set on EventBridge events (schedules).
	DetailType string `json:"detail-type"`
	// ForkUpTo forks up to this many idle children (a fork bomb with a
	// bound), reports how many it got and why it stopped, and reaps them.
	ForkUpTo int `json:"forkUpTo"`
	// Stat names paths whose existence the reply reports.
	Stat []string `json:"stat"`
}

type reply struct {
	Echo        string `json:"echo"`
	RequestID   string `json:"requestId"`
	FunctionARN string `json:"functionArn"`
	Function    string `json:"function"`
	Memory      string `json:"memory"`
	Pid         int    `json:"pid"`
	DeadlineMs  int64  `json:"deadlineInMs"`
	// Greeting, Cwd and Uid show what the sandbox gave the runtime: an
	// image's ENV, its working directory, the user it runs as.
	Greeting string `json:"greeting,omitempty"`
	Cwd      string `json:"cwd"`
	Uid      int    `json:"uid"`
	// Forked and ForkErr: what ForkUpTo got ("" when it reached its
	// bound).
	Forked  int    `json:"forked,omitempty"`
	ForkErr string `json:"forkErr,omitempty"`
	// Stat maps each path asked for to "" when it exists, else the error.
	Stat map[string]string `json:"stat,omitempty"`
	// ClientContext is what aws-lambda-go parsed from the invocation's
	// client context, nil when there was none.
	ClientContext *lambdacontext.ClientContext `json:"clientContext,omitempty"`
}

var keep [][]byte

func handle(ctx context.Context, e event) (reply, error) {
	if e.PrintLog != "" {
		fmt.Println(e.PrintLog)
	}
	if e.DetailType != "" {
		fmt.Println("event: " + e.DetailType)
	}
	if e.SleepMs > 0 {
		time.Sleep(time.Duration(e.SleepMs) * time.Millisecond)
	}
	for i := 0; i < e.AllocMB; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
	}
	if e.Fail != "" {
		return reply{}, errors.New(e.Fail)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	var forked int
	var forkErr string
	if e.ForkUpTo > 0 {
		forked, forkErr = forkBomb(e.ForkUpTo)
	}
	var stat map[string]string
	for _, p := range e.Stat {
		if stat == nil {
			stat = map[string]string{}
		}
		stat[p] = ""
		if _, err := os.Lstat(p); err != nil {
			stat[p] = err.Error()
		}
	}
	r := reply{Forked: forked, ForkErr: forkErr, Stat: stat, Echo: e.Key1, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), Memory: os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Pid: os.Getpid(), DeadlineMs: dl.UnixMilli(),
		Greeting: os.Getenv("HELLOFN_GREETING"), Uid: os.Getuid()}
	r.Cwd, _ = os.Getwd()
	if lc != nil {
		r.RequestID, r.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
		if cc := lc.ClientContext; cc.Client != (lambdacontext.ClientApplication{}) || cc.Env != nil || cc.Custom != nil {
			r.ClientContext = &cc
		}
	}
	return r, nil
}

func main() {
	if strings.Contains(os.Getenv("HELLOFN_MODE"), "crash-init") {
		fmt.Fprintln(os.Stderr, "hellofn: crashing during init as asked")
		os.Exit(3)
	}
	lambda.Start(handle)
}

// forkBomb forks up to n children that only wait to be killed, until a
// fork fails; it kills and reaps them all and returns how many it made
// and the error that stopped it ("" when it made n). The children are
// made with a raw fork and never leave raw system calls, so that none of
// the Go runtime (its other threads are gone in a child) runs in them.
func forkBomb(n int) (int, string) {
	var pids []int
	var why string
	for len(pids) < n {
		pid, _, errno := syscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)
		if errno != 0 {
			why = errno.Error()
			break
		}
		if pid == 0 {
			for {
				syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}
		pids = append(pids, int(pid))
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	}
	return len(pids), why
}
