package testutil

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// AWSHTTPClient is the HTTP client of the tests' AWS SDK clients: the
// SDK's own (awshttp.BuildableClient), handed request bodies of its own.
//
// Why: smithy-go closes an operation's request body as soon as the
// transport returns the response, and after that close the body's WriteTo
// answers io.EOF. net/http's writeLoop, though, still copies the body once
// more after sending it (to check for bytes beyond its Content-Length); if
// the response came in between (the server answers as soon as it has the
// body, and a loaded host can hold the writeLoop's goroutine back for
// milliseconds), that copy fails with io.EOF, which the writeLoop takes for
// a write error: it closes the connection under the answer the caller is
// reading. The caller then fails with "deserialization failed, failed to
// decode response body, read tcp ...: use of closed network connection"
// on a 200. The SDK's default retryer retries net.ErrClosed; the tests run
// without retries, to see every refusal as it is. Giving the transport a
// copy of the body that nobody else closes removes the race at its cause.
func AWSHTTPClient() *OwnBodyClient { return &OwnBodyClient{c: awshttp.NewBuildableClient()} }

// OwnBodyClient is AWSHTTPClient's client (an aws.HTTPClient).
type OwnBodyClient struct{ c *awshttp.BuildableClient }

// Do sends r with a copy of its body (bodies of AWS calls are small and in
// memory).
func (o *OwnBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return o.c.Do(r)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(b))
	c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	c.ContentLength = int64(len(b))
	return o.c.Do(c)
}
