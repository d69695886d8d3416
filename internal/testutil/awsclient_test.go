package testutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
)

// stallConn holds each write for a moment after it is sent, as a loaded
// host holds a goroutine back: the response can come in before net/http's
// writeLoop goes on with the request.
type stallConn struct{ net.Conn }

func (c stallConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(50 * time.Millisecond)
	return n, err
}

// TestAWSHTTPClientKeepsTheAnswer reproduces the race AWSHTTPClient removes
// without waiting for a loaded host: the server answers ListJobs as soon as
// it has read the body and sends its answer slowly, the client's writes
// stall after they are sent. With the SDK's client as is, the writeLoop's
// late copy of the already closed body fails and closes the connection
// under the answer; with AWSHTTPClient the call succeeds.
func TestAWSHTTPClientKeepsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"jobSummaryList":[`)
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond)
		var items []string
		for i := 0; i < 60; i++ {
			items = append(items, fmt.Sprintf(`{"jobId":"j%d","jobName":"n"}`, i))
		}
		_, _ = io.WriteString(w, strings.Join(items, ",")+`]}`)
	}))
	defer srv.Close()
	stall := func(tr *http.Transport) {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return stallConn{c}, nil
		}
	}
	client := func(hc aws.HTTPClient) *batch.Client {
		return batch.New(batch.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: hc})
	}
	ctx := context.Background()
	in := &batch.ListJobsInput{JobQueue: aws.String("q")}

	_, err := client(awshttp.NewBuildableClient().WithTransportOptions(stall)).ListJobs(ctx, in)
	t.Logf("the SDK's own client: %v", err)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the SDK's own client: %v, want the connection closed under the answer (net.ErrClosed)", err)
	}
	own := AWSHTTPClient()
	own.c = own.c.WithTransportOptions(stall)
	out, err := client(own).ListJobs(ctx, in)
	if err != nil || len(out.JobSummaryList) != 60 {
		t.Fatalf("AWSHTTPClient: %v, %d jobs", err, len(out.JobSummaryList))
	}
}
