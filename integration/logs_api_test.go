package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// lambdaStream is a log stream name as Lambda gives one to a sandbox.
var lambdaStream = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`)

// TestLogsAPI: CloudWatch Logs' API reads a function's log (one stream per
// sandbox, Lambda's names) and a container's, with aws-sdk-go-v2's
// cloudwatchlogs client and the aws CLI: groups, streams, events, filter
// patterns, the polling that `aws logs tail --follow` does, and a
// retention that reaches the rotation of the container's log.
func TestLogsAPI(t *testing.T) {
	t.Parallel()
	e := startFnEnv(t)
	e.d.ImportBusybox(t, busybox)
	e.deploy(t, "hello", 128, 3, nil)
	e.invoke(t, "hello", `{"print":"fn-marker-ERROR-1"}`)
	e.invoke(t, "hello", `{"print":"fn-info-2"}`)
	web := runD(t, e.d, "--name", "web", busybox, "sh", "-c",
		`echo INFO start; echo ERROR boom; echo '{"level":"ERROR","code":7}'; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done`)

	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(e.d.MustWharf(t, "keys", "create", "--json", "--policy", "logs:*:*")), &key); err != nil {
		t.Fatal(err)
	}
	cl := cwl.New(cwl.Options{BaseEndpoint: aws.String("http://" + e.addr), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyId, key.SecretAccessKey, "")})
	ctx := context.Background()

	// The whole /metrics of a daemon with a function and a container
	// parses, with both sides' series.
	fams := scrape(t, e.addr)
	if _, ok := value(fams, "container_memory_working_set_bytes", map[string]string{"name": "web", "id": "/wharf/" + web}); !ok {
		t.Errorf("no container series for web")
	}
	if v, _ := value(fams, "wharf_function_invocations_total", map[string]string{"function": "hello"}); v < 2 {
		t.Errorf("wharf_function_invocations_total{function=hello} = %v after two invocations", v)
	}
	if v, _ := value(fams, "wharf_api_requests_total", map[string]string{"api": "lambda", "route": "POST /2015-03-31/functions/{name}/invocations"}); v < 2 {
		t.Errorf("Lambda invocations counted by route: %v", v)
	}

	groups, err := cl.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.LogGroups {
		names = append(names, *g.LogGroupName)
	}
	if strings.Join(names, " ") != "/aws/lambda/hello /wharf/containers/web" {
		t.Errorf("log groups: %v", names)
	}

	// The function's log: its sandbox's stream, its lines; the function's
	// output reaches the log after the answer, as on Lambda.
	var stream string
	if !waitFor(10*time.Second, func() bool {
		st, err := cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/hello")})
		if err != nil || len(st.LogStreams) != 1 {
			return false
		}
		stream = *st.LogStreams[0].LogStreamName
		return true
	}) || !lambdaStream.MatchString(stream) {
		t.Fatalf("the function's stream: %q", stream)
	}
	var text string
	waitFor(10*time.Second, func() bool {
		out, err := cl.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, ev := range out.Events {
			b.WriteString(*ev.Message + "\n")
		}
		text = b.String()
		return strings.Contains(text, "fn-info-2") && strings.Count(text, "REPORT RequestId:") == 2
	})
	for _, want := range []string{"START RequestId: ", "fn-marker-ERROR-1", "fn-info-2", "REPORT RequestId: "} {
		if !strings.Contains(text, want) {
			t.Errorf("the function's events lack %q:\n%s", want, text)
		}
	}
	fl, err := cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/hello"), FilterPattern: aws.String("ERROR")})
	if err != nil || len(fl.Events) != 1 || *fl.Events[0].Message != "fn-marker-ERROR-1" || *fl.Events[0].LogStreamName != stream {
		t.Errorf("filter ERROR in the function's log: %+v %v", fl.Events, err)
	}

	// The container's log: one stream, its id; term and JSON patterns.
	st, err := cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/wharf/containers/web")})
	if err != nil || len(st.LogStreams) != 1 || *st.LogStreams[0].LogStreamName != web {
		t.Fatalf("the container's streams: %+v %v", st, err)
	}
	filter := func(pattern string) []string {
		out, err := cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/wharf/containers/web"), FilterPattern: aws.String(pattern)})
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, ev := range out.Events {
			m = append(m, *ev.Message)
		}
		return m
	}
	if m := filter("ERROR"); len(m) != 2 || m[0] != "ERROR boom" {
		t.Errorf("filter ERROR: %q", m)
	}
	if m := filter(`{ $.code = 7 }`); len(m) != 1 || !strings.Contains(m[0], `"code":7`) {
		t.Errorf("filter { $.code = 7 }: %q", m)
	}

	// What `aws logs tail --follow` does: poll FilterLogEvents from a start
	// time and keep the events it has not seen (by eventId).
	seen := map[string]bool{}
	var ticks []string
	start := time.Now().Add(-time.Second).UnixMilli()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(ticks) < 5 {
		out, err := cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/wharf/containers/web"), StartTime: aws.Int64(start), FilterPattern: aws.String("tick")})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out.Events {
			if !seen[*ev.EventId] {
				seen[*ev.EventId] = true
				ticks = append(ticks, *ev.Message)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(ticks) < 5 {
		t.Errorf("following the container's log saw %q", ticks)
	}

	awsLogs := func(args ...string) string {
		t.Helper()
		bin, err := exec.LookPath("aws")
		if err != nil {
			t.Skip("the aws CLI is not installed (the SDK's calls above and server/logsapi's tests cover the API)")
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, append([]string{"--endpoint-url", "http://" + e.addr, "--region", "us-east-1", "--output", "json", "logs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+key.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("aws logs %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	t.Run("AWSCLI", func(t *testing.T) {
		if out := awsLogs("describe-log-groups", "--log-group-name-prefix", "/aws/lambda/"); !strings.Contains(out, `"logGroupName": "/aws/lambda/hello"`) || strings.Contains(out, "/wharf/") {
			t.Errorf("describe-log-groups:\n%s", out)
		}
		if out := awsLogs("get-log-events", "--log-group-name", "/aws/lambda/hello", "--log-stream-name", stream, "--start-from-head"); !strings.Contains(out, "fn-marker-ERROR-1") || !strings.Contains(out, `"nextForwardToken": "f/`) {
			t.Errorf("get-log-events:\n%s", out)
		}
		var fl struct {
			Events []struct{ Message, LogStreamName string }
		}
		if err := json.Unmarshal([]byte(awsLogs("filter-log-events", "--log-group-name", "/wharf/containers/web", "--filter-pattern", "ERROR -boom")), &fl); err != nil || len(fl.Events) != 1 || fl.Events[0].LogStreamName != web {
			t.Errorf("filter-log-events --filter-pattern 'ERROR -boom': %+v %v", fl, err)
		}
		// The CLI pages through everything with nextToken.
		if out := awsLogs("filter-log-events", "--log-group-name", "/wharf/containers/web", "--page-size", "2", "--filter-pattern", "tick"); strings.Count(out, `"message": "tick `) < 5 {
			t.Errorf("filter-log-events in pages of 2:\n%s", out)
		}
		awsLogs("put-retention-policy", "--log-group-name", "/wharf/containers/web", "--retention-in-days", "1")
		if out := awsLogs("describe-log-groups", "--log-group-name-prefix", "/wharf/"); !strings.Contains(out, `"retentionInDays": 1`) {
			t.Errorf("describe-log-groups after put-retention-policy:\n%s", out)
		}
		// The rotation of the container's log reads the retention.
		ret, err := os.ReadFile(filepath.Join(e.d.Root, "containers", web, web+"-json.log.retention"))
		if err != nil || strings.TrimSpace(string(ret)) != "1" {
			t.Errorf("the retention next to the container's log: %q %v", ret, err)
		}
		awsLogs("delete-retention-policy", "--log-group-name", "/wharf/containers/web")
		if _, err := os.Stat(filepath.Join(e.d.Root, "containers", web, web+"-json.log.retention")); !os.IsNotExist(err) {
			t.Errorf("the retention stayed after delete-retention-policy: %v", err)
		}
		// `logs tail` is aws CLI v2's: the one on PATH, or Debian's
		// awscli (v2) when PATH's is a v1 (pip's).
		bin := ""
		for _, cand := range []string{"aws", "/usr/bin/aws"} {
			if p, err := exec.LookPath(cand); err == nil && exec.Command(p, "logs", "tail", "help").Run() == nil {
				bin = p
				break
			}
		}
		if bin == "" {
			t.Log("no aws CLI v2 (`logs tail`); the polling it does is checked above with the SDK")
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, bin, "--endpoint-url", "http://"+e.addr, "--region", "us-east-1", "logs", "tail", "/wharf/containers/web", "--follow", "--since", "1m")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+key.AccessKeyId, "AWS_SECRET_ACCESS_KEY="+key.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		out, _ := cmd.Output()
		if strings.Count(string(out), "tick ") < 3 {
			t.Errorf("aws logs tail --follow for 4 s:\n%s", out)
		}
	})
	e.d.MustWharf(t, "rm", "-f", web)
}
