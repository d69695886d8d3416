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
	r := reply{Echo: e.Key1, Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), Memory: os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Pid: os.Getpid(), DeadlineMs: dl.UnixMilli(),
		Greeting: os.Getenv("HELLOFN_GREETING"), Uid: os.Getuid()}
	r.Cwd, _ = os.Getwd()
	if lc != nil {
		r.RequestID, r.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
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
