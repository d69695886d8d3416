package logsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"

	"github.com/wharf-dev/wharf/identity"
)

// memSource is a Source of groups held in memory, under /test/.
type memSource struct {
	groups map[string][]Event
	start  time.Time
}

func (m *memSource) Prefix() string { return "/test/" }

func (m *memSource) Groups(context.Context) ([]Group, error) {
	var out []Group
	for name := range m.groups {
		out = append(out, Group{Name: name, Created: m.start})
	}
	return out, nil
}

func (m *memSource) Group(_ context.Context, name string) (Group, error) {
	if _, ok := m.groups[name]; !ok {
		return Group{}, notFound(name)
	}
	return Group{Name: name, Created: m.start}, nil
}

func (m *memSource) Streams(_ context.Context, g Group) ([]StreamInfo, error) {
	by := map[string]*StreamInfo{}
	var order []string
	for _, e := range m.groups[g.Name] {
		if by[e.Stream] == nil {
			by[e.Stream] = &StreamInfo{Name: e.Stream, Created: e.Time, First: e.Time}
			order = append(order, e.Stream)
		}
		by[e.Stream].LastEvent = e.Time
	}
	var out []StreamInfo
	for _, n := range order {
		out = append(out, *by[n])
	}
	return out, nil
}

func (m *memSource) Events(_ context.Context, g Group, each func(Event) error) error {
	for _, e := range m.groups[g.Name] {
		if err := each(e); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	src  *memSource
	keys *identity.Keys
	url  string
	cl   *cwl.Client
	now  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	keys, err := identity.OpenKeys(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	ret, err := OpenRetention(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	t0 := now.Add(-72 * time.Hour)
	src := &memSource{start: t0, groups: map[string][]Event{}}
	// /test/app: two streams; "a" is older, "b" newer; ERROR lines and JSON.
	for i := range 10 {
		src.groups["/test/app"] = append(src.groups["/test/app"], Event{Stream: "a", Time: t0.Add(time.Duration(i) * time.Minute), Message: fmt.Sprintf("a line %d", i)})
	}
	for i := range 10 {
		msg := fmt.Sprintf("INFO b %d", i)
		if i%3 == 0 {
			msg = fmt.Sprintf(`{"level":"ERROR","n":%d}`, i)
		}
		src.groups["/test/app"] = append(src.groups["/test/app"], Event{Stream: "b", Time: now.Add(time.Duration(i-10) * time.Second), Message: msg})
	}
	// Events of the same millisecond and nanosecond keep their order.
	same := now.Add(-time.Second)
	src.groups["/test/same"] = []Event{{Stream: "s", Time: same, Message: "one"}, {Stream: "s", Time: same, Message: "two"}, {Stream: "s", Time: same, Message: "three"}}
	src.groups["/test/zzz"] = nil
	srv := httptest.NewServer(New(keys, ret, []Source{src}, WithClock(time.Now)))
	t.Cleanup(srv.Close)
	e := &env{src: src, keys: keys, url: srv.URL, now: now}
	e.cl = e.client(t, identity.AdminStatement)
	return e
}

func (e *env) client(t *testing.T, stmts ...identity.Statement) *cwl.Client {
	key, err := e.keys.Create(stmts...)
	if err != nil {
		t.Fatal(err)
	}
	return cwl.New(cwl.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func messages(evs []string) string { return strings.Join(evs, "|") }

func TestDescribe(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.cl.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/test/"), Limit: aws.Int32(2)})
	if err != nil || len(out.LogGroups) != 2 || *out.LogGroups[0].LogGroupName != "/test/app" || out.NextToken == nil {
		t.Fatalf("first page: %+v %v", out, err)
	}
	if !strings.HasSuffix(*out.LogGroups[0].Arn, ":log-group:/test/app:*") {
		t.Errorf("arn %s", *out.LogGroups[0].Arn)
	}
	out2, err := e.cl.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/test/"), Limit: aws.Int32(2), NextToken: out.NextToken})
	if err != nil || len(out2.LogGroups) != 1 || *out2.LogGroups[0].LogGroupName != "/test/zzz" || out2.NextToken != nil {
		t.Fatalf("second page: %+v %v", out2, err)
	}
	if _, err := e.cl.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/x"), LogGroupNamePattern: aws.String("y")}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("prefix and pattern: %v", err)
	}

	st, err := e.cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/test/app"), OrderBy: "LastEventTime", Descending: aws.Bool(true)})
	if err != nil || len(st.LogStreams) != 2 || *st.LogStreams[0].LogStreamName != "b" {
		t.Fatalf("streams by last event, descending: %+v %v", st, err)
	}
	if *st.LogStreams[0].LastEventTimestamp != e.now.Add(-time.Second).UnixMilli() {
		t.Errorf("last event of b: %d", *st.LogStreams[0].LastEventTimestamp)
	}
	st, err = e.cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/test/app"), Limit: aws.Int32(1)})
	if err != nil || len(st.LogStreams) != 1 || *st.LogStreams[0].LogStreamName != "a" || st.NextToken == nil {
		t.Fatalf("streams by name, one a page: %+v %v", st, err)
	}
	if _, err := e.cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/test/app"), OrderBy: "LastEventTime", LogStreamNamePrefix: aws.String("a")}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("prefix with LastEventTime: %v", err)
	}
	if _, err := e.cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/test/none")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := e.cl.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/other/none")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("group of no source: %v", err)
	}
}

func getMsgs(t *testing.T, out *cwl.GetLogEventsOutput, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var m []string
	for _, ev := range out.Events {
		m = append(m, *ev.Message)
	}
	return messages(m)
}

// GetLogEvents pages forward and backward as AWS: the tail by default,
// the head with startFromHead, and the same token back when nothing is
// new.
func TestGetLogEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := func(mod func(*cwl.GetLogEventsInput)) *cwl.GetLogEventsInput {
		i := &cwl.GetLogEventsInput{LogGroupName: aws.String("/test/app"), LogStreamName: aws.String("a"), Limit: aws.Int32(4)}
		mod(i)
		return i
	}
	out, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) {}))
	if m := getMsgs(t, out, err); m != "a line 6|a line 7|a line 8|a line 9" {
		t.Fatalf("tail: %s", m)
	}
	back, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.NextToken = out.NextBackwardToken }))
	if m := getMsgs(t, back, err); m != "a line 2|a line 3|a line 4|a line 5" {
		t.Fatalf("backward: %s", m)
	}
	head, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.StartFromHead = aws.Bool(true) }))
	if m := getMsgs(t, head, err); m != "a line 0|a line 1|a line 2|a line 3" {
		t.Fatalf("head: %s", m)
	}
	tok := head.NextForwardToken
	var all []string
	for range 5 {
		next, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.NextToken = tok }))
		if m := getMsgs(t, next, err); m != "" {
			all = append(all, m)
		}
		if *next.NextForwardToken == *tok {
			break
		}
		tok = next.NextForwardToken
	}
	if messages(all) != "a line 4|a line 5|a line 6|a line 7|a line 8|a line 9" {
		t.Errorf("forward pages: %v", all)
	}
	// The paginator of the SDK stops on the same token.
	p := cwl.NewGetLogEventsPaginator(e.cl, in(func(i *cwl.GetLogEventsInput) { i.StartFromHead = aws.Bool(true) }))
	n := 0
	for p.HasMorePages() && n < 10 {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Events)
	}
	if n != 10 {
		t.Errorf("the paginator read %d events, want 10", n)
	}
	// Events of the same nanosecond are paged without loss or repeat.
	same := func(tok *string) *cwl.GetLogEventsOutput {
		o, err := e.cl.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/test/same"), LogStreamName: aws.String("s"), Limit: aws.Int32(2), StartFromHead: aws.Bool(true), NextToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	s1 := same(nil)
	s2 := same(s1.NextForwardToken)
	if getMsgs(t, s1, nil) != "one|two" || getMsgs(t, s2, nil) != "three" {
		t.Errorf("same-time pages: %s / %s", getMsgs(t, s1, nil), getMsgs(t, s2, nil))
	}
	// A time window.
	w, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) {
		i.StartTime = aws.Int64(e.src.start.Add(2 * time.Minute).UnixMilli())
		i.EndTime = aws.Int64(e.src.start.Add(4 * time.Minute).UnixMilli())
		i.StartFromHead = aws.Bool(true)
	}))
	if m := getMsgs(t, w, err); m != "a line 2|a line 3" {
		t.Errorf("window: %s", m)
	}
	if _, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.LogStreamName = aws.String("nope") })); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown stream: %v", err)
	}
	if _, err := e.cl.GetLogEvents(ctx, in(func(i *cwl.GetLogEventsInput) { i.NextToken = aws.String("garbage") })); apiCode(err) != "InvalidParameterException" {
		t.Errorf("bad token: %v", err)
	}
}

func TestFilterLogEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	filter := func(i *cwl.FilterLogEventsInput) ([]string, *string) {
		t.Helper()
		i.LogGroupName = aws.String("/test/app")
		out, err := e.cl.FilterLogEvents(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, ev := range out.Events {
			m = append(m, *ev.LogStreamName+":"+*ev.Message)
		}
		return m, out.NextToken
	}
	if m, _ := filter(&cwl.FilterLogEventsInput{FilterPattern: aws.String(`{ $.level = "ERROR" && $.n > 0 }`)}); messages(m) != `b:{"level":"ERROR","n":3}|b:{"level":"ERROR","n":6}|b:{"level":"ERROR","n":9}` {
		t.Errorf("JSON pattern: %v", m)
	}
	if m, _ := filter(&cwl.FilterLogEventsInput{FilterPattern: aws.String(`?"line 1" ?"b 2"`)}); messages(m) != "a:a line 1|b:INFO b 2" {
		t.Errorf("optional terms: %v", m)
	}
	if m, _ := filter(&cwl.FilterLogEventsInput{LogStreamNames: []string{"a"}, FilterPattern: aws.String("line -5 -6 -7 -8 -9")}); messages(m) != "a:a line 0|a:a line 1|a:a line 2|a:a line 3|a:a line 4" {
		t.Errorf("streams and exclusions: %v", m)
	}
	// Pages of 7 cover the 20 events once each, in order.
	var all []string
	var tok *string
	for range 5 {
		m, next := filter(&cwl.FilterLogEventsInput{Limit: aws.Int32(7), NextToken: tok})
		all = append(all, m...)
		if next == nil {
			break
		}
		tok = next
	}
	if len(all) != 20 || all[0] != "a:a line 0" || all[19] != "b:INFO b 8" && all[19] != `b:{"level":"ERROR","n":9}` {
		t.Errorf("pages: %d %v", len(all), all)
	}
	if m, _ := filter(&cwl.FilterLogEventsInput{StartTime: aws.Int64(e.now.Add(-2500 * time.Millisecond).UnixMilli())}); len(m) != 2 {
		t.Errorf("since 2.5 s ago: %v", m)
	}
	if _, err := e.cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/test/app"), FilterPattern: aws.String(`{ $.a = `)}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("bad pattern: %v", err)
	}
}

// A retention hides older events at once and shows in DescribeLogGroups;
// CloudWatch's enum of days is enforced; keys are held to their policy.
func TestRetentionAndPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.cl.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/test/app"), RetentionInDays: aws.Int32(2)}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("2 days: %v", err)
	}
	if _, err := e.cl.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/test/app"), RetentionInDays: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	g, _ := e.cl.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/test/app")})
	if len(g.LogGroups) != 1 || g.LogGroups[0].RetentionInDays == nil || *g.LogGroups[0].RetentionInDays != 1 {
		t.Errorf("retention in DescribeLogGroups: %+v", g.LogGroups)
	}
	out, err := e.cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/test/app")})
	if err != nil || len(out.Events) != 10 || *out.Events[0].LogStreamName != "b" {
		t.Errorf("with 1 day of retention the 3-day-old stream a is gone: %d events, %v", len(out.Events), err)
	}
	if _, err := e.cl.DeleteRetentionPolicy(ctx, &cwl.DeleteRetentionPolicyInput{LogGroupName: aws.String("/test/app")}); err != nil {
		t.Fatal(err)
	}
	if out, _ := e.cl.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/test/app")}); len(out.Events) != 20 {
		t.Errorf("after DeleteRetentionPolicy: %d events", len(out.Events))
	}

	reader := e.client(t, identity.Statement{Service: "logs", Actions: []string{"GetLogEvents", "DescribeLogGroups"}, Resource: "/test/a*"})
	if _, err := reader.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/test/app"), LogStreamName: aws.String("a")}); err != nil {
		t.Errorf("allowed GetLogEvents: %v", err)
	}
	if _, err := reader.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/test/app")}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("FilterLogEvents without the action: %v", err)
	}
	if _, err := reader.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/test/same"), LogStreamName: aws.String("s")}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("GetLogEvents outside the resource: %v", err)
	}
	if g, err := reader.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{}); err != nil || len(g.LogGroups) != 1 || *g.LogGroups[0].LogGroupName != "/test/app" {
		t.Errorf("DescribeLogGroups lists what the key may describe: %+v %v", g, err)
	}
	lambdaOnly := e.client(t, identity.Statement{Service: "lambda", Actions: []string{"*"}, Resource: "*"})
	if _, err := lambdaOnly.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/test/app")}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("a Lambda key: %v", err)
	}
}
