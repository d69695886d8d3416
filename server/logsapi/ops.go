package logsapi

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// pos is a position in an order of events: the events at or after it
// have a key (time, rank among the consecutive events of the same
// nanosecond) not below it.
type pos struct {
	t int64
	k int
}

func (a pos) less(b pos) bool { return a.t < b.t || a.t == b.t && a.k < b.k }

var endPos = pos{t: math.MaxInt64, k: math.MaxInt}

func (a pos) String() string { return fmt.Sprintf("%019d/%d", a.t, a.k) }

func parsePos(s string) (pos, bool) {
	ts, ks, ok := strings.Cut(s, "/")
	t, err1 := strconv.ParseInt(ts, 10, 64)
	k, err2 := strconv.Atoi(ks)
	if !ok || err1 != nil || err2 != nil || k < 0 {
		return pos{}, false
	}
	return pos{t, k}, true
}

// keyer gives consecutive events their keys.
type keyer struct{ last pos }

func (k *keyer) key(t time.Time) pos {
	n := t.UnixNano()
	if n == k.last.t {
		k.last.k++
	} else {
		k.last = pos{t: n}
	}
	return k.last
}

// errStop ends a read early.
var errStop = errors.New("stop")

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// groupName resolves logGroupName or logGroupIdentifier (a name or an
// ARN).
func groupName(name, ident string) (string, error) {
	switch {
	case name != "" && ident != "":
		return "", invalidParam("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != "":
		return name, nil
	case ident != "":
		if i := strings.Index(ident, ":log-group:"); strings.HasPrefix(ident, "arn:") && i >= 0 {
			ident = strings.TrimSuffix(ident[i+len(":log-group:"):], ":*")
		}
		return ident, nil
	}
	return "", invalidParam("Either LogGroup name or LogGroup ARN must be specified.")
}

func (s *Server) source(name string) (Source, error) {
	for _, src := range s.sources {
		if strings.HasPrefix(name, src.Prefix()) {
			return src, nil
		}
	}
	return nil, notFound(name)
}

func (s *Server) group(ctx context.Context, name string) (Source, Group, error) {
	src, err := s.source(name)
	if err != nil {
		return nil, Group{}, err
	}
	g, err := src.Group(ctx, name)
	if err == nil && g.LogPath != "" {
		// A group outlives its log file (a container replaced under the
		// same name): the file gets the group's retention when it lacks it.
		if d := s.ret.Days(name); d > 0 && logfile.Retention(g.LogPath) != d {
			_ = logfile.SetRetention(g.LogPath, d)
		}
	}
	return src, g, err
}

// cutoff is the oldest time a group's retention keeps.
func (s *Server) cutoff(group string) time.Time {
	days := s.ret.Days(group)
	if days == 0 {
		return time.Time{}
	}
	return s.now().Add(-time.Duration(days) * 24 * time.Hour)
}

func limitOf(l *int, def, maximum int) (int, error) {
	if l == nil {
		return def, nil
	}
	if *l < 1 || *l > maximum {
		return 0, invalidParam("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *l, maximum)
	}
	return *l, nil
}

type groupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int   `json:"retentionInDays,omitempty"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
	LogGroupArn       string `json:"logGroupArn"`
}

func (s *Server) describeLogGroups(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupNamePrefix  string `json:"logGroupNamePrefix"`
		LogGroupNamePattern string `json:"logGroupNamePattern"`
		NextToken           string `json:"nextToken"`
		Limit               *int   `json:"limit"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != "" && in.LogGroupNamePattern != "" {
		return nil, invalidParam("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	limit, err := limitOf(in.Limit, maxPage, maxPage)
	if err != nil {
		return nil, err
	}
	var all []Group
	for _, src := range s.sources {
		gs, err := src.Groups(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, gs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := struct {
		LogGroups []groupOut `json:"logGroups"`
		NextToken string     `json:"nextToken,omitempty"`
	}{LogGroups: []groupOut{}}
	pattern := strings.ToLower(in.LogGroupNamePattern)
	for _, g := range all {
		if !strings.HasPrefix(g.Name, in.LogGroupNamePrefix) || pattern != "" && !strings.Contains(strings.ToLower(g.Name), pattern) {
			continue
		}
		if in.NextToken != "" && g.Name <= in.NextToken || !id.Allowed("DescribeLogGroups", g.Name) {
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = out.LogGroups[limit-1].LogGroupName
			break
		}
		o := groupOut{LogGroupName: g.Name, CreationTime: ms(g.Created), Arn: s.groupArn(g.Name) + ":*",
			StoredBytes: g.Bytes, LogGroupClass: "STANDARD", LogGroupArn: s.groupArn(g.Name)}
		if d := s.ret.Days(g.Name); d > 0 {
			o.RetentionInDays = &d
		}
		out.LogGroups = append(out.LogGroups, o)
	}
	return out, nil
}

func (s *Server) describeLogStreams(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupName        string `json:"logGroupName"`
		LogGroupIdentifier  string `json:"logGroupIdentifier"`
		LogStreamNamePrefix string `json:"logStreamNamePrefix"`
		OrderBy             string `json:"orderBy"`
		Descending          bool   `json:"descending"`
		NextToken           string `json:"nextToken"`
		Limit               *int   `json:"limit"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit, err := limitOf(in.Limit, maxPage, maxPage)
	if err != nil {
		return nil, err
	}
	switch in.OrderBy {
	case "", "LogStreamName":
	case "LastEventTime":
		if in.LogStreamNamePrefix != "" {
			return nil, invalidParam("Cannot order by LastEventTime with a logStreamNamePrefix.")
		}
	default:
		return nil, invalidParam("1 validation error detected: Value '%s' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]", in.OrderBy)
	}
	if err := s.authorize(id, "DescribeLogStreams", name); err != nil {
		return nil, err
	}
	src, g, err := s.group(ctx, name)
	if err != nil {
		return nil, err
	}
	streams, err := src.Streams(ctx, g)
	if err != nil {
		return nil, err
	}
	var kept []StreamInfo
	for _, st := range streams {
		if strings.HasPrefix(st.Name, in.LogStreamNamePrefix) {
			kept = append(kept, st)
		}
	}
	less := func(i, j int) bool { return kept[i].Name < kept[j].Name }
	if in.OrderBy == "LastEventTime" {
		less = func(i, j int) bool {
			if !kept[i].LastEvent.Equal(kept[j].LastEvent) {
				return kept[i].LastEvent.Before(kept[j].LastEvent)
			}
			return kept[i].Name < kept[j].Name
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if in.Descending {
			return less(j, i)
		}
		return less(i, j)
	})
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "s/"))
		if err != nil || n < 0 || !strings.HasPrefix(in.NextToken, "s/") {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		start = min(n, len(kept))
	}
	type streamOut struct {
		LogStreamName       string `json:"logStreamName"`
		CreationTime        int64  `json:"creationTime"`
		FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
		LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
		LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
		Arn                 string `json:"arn"`
		StoredBytes         int64  `json:"storedBytes"`
	}
	out := struct {
		LogStreams []streamOut `json:"logStreams"`
		NextToken  string      `json:"nextToken,omitempty"`
	}{LogStreams: []streamOut{}}
	end := min(start+limit, len(kept))
	for _, st := range kept[start:end] {
		out.LogStreams = append(out.LogStreams, streamOut{LogStreamName: st.Name, CreationTime: ms(st.Created),
			FirstEventTimestamp: ms(st.First), LastEventTimestamp: ms(st.LastEvent), LastIngestionTime: ms(st.LastEvent),
			Arn: s.groupArn(name) + ":log-stream:" + st.Name, StoredBytes: st.Bytes})
	}
	if end < len(kept) {
		out.NextToken = "s/" + strconv.Itoa(end)
	}
	return out, nil
}

// eventSize is what an event counts toward a response's 1 MB, as AWS
// counts it.
func eventSize(e Event) int { return len(e.Message) + 26 }

type eventOut struct {
	LogStreamName string `json:"logStreamName,omitempty"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId,omitempty"`
}

// window filters events by time: [start, end) in ms, and the retention.
type window struct {
	start, end *int64
	cutoff     time.Time
}

func (w window) has(t time.Time) bool {
	m := t.UnixMilli()
	if w.start != nil && m < *w.start || w.end != nil && m >= *w.end {
		return false
	}
	return w.cutoff.IsZero() || !t.Before(w.cutoff)
}

func (s *Server) getLogEvents(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupName       string `json:"logGroupName"`
		LogGroupIdentifier string `json:"logGroupIdentifier"`
		LogStreamName      string `json:"logStreamName"`
		StartTime          *int64 `json:"startTime"`
		EndTime            *int64 `json:"endTime"`
		NextToken          string `json:"nextToken"`
		Limit              *int   `json:"limit"`
		StartFromHead      *bool  `json:"startFromHead"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if in.LogStreamName == "" {
		return nil, invalidParam("1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
	}
	limit, err := limitOf(in.Limit, maxEvents, maxEvents)
	if err != nil {
		return nil, err
	}
	// The direction and position: a token's, else the head or the tail.
	forward := in.StartFromHead != nil && *in.StartFromHead
	at := pos{}
	if !forward {
		at = endPos
	}
	if in.NextToken != "" {
		dir, rest, _ := strings.Cut(in.NextToken, "/")
		p, ok := parsePos(rest)
		if !ok || dir != "f" && dir != "b" {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		forward, at = dir == "f", p
	}
	if err := s.authorize(id, "GetLogEvents", name); err != nil {
		return nil, err
	}
	src, g, err := s.group(ctx, name)
	if err != nil {
		return nil, err
	}
	w := window{start: in.StartTime, end: in.EndTime, cutoff: s.cutoff(name)}
	type keyed struct {
		e Event
		k pos
	}
	var got []keyed
	bytes, seen := 0, false
	var kr keyer
	err = src.Events(ctx, g, func(e Event) error {
		if e.Stream != in.LogStreamName {
			return nil
		}
		seen = true
		k := kr.key(e.Time)
		if !w.has(e.Time) {
			return nil
		}
		if forward {
			if k.less(at) {
				return nil
			}
			if len(got) == limit || bytes+eventSize(e) > maxBytes {
				return errStop
			}
			got = append(got, keyed{e, k})
			bytes += eventSize(e)
			return nil
		}
		if !k.less(at) {
			return errStop
		}
		// Backwards: the last events before at, within the bounds.
		got = append(got, keyed{e, k})
		bytes += eventSize(e)
		for len(got) > limit || bytes > maxBytes {
			bytes -= eventSize(got[0].e)
			got = got[1:]
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if !seen {
		if streams, err := src.Streams(ctx, g); err == nil {
			found := false
			for _, st := range streams {
				found = found || st.Name == in.LogStreamName
			}
			if !found {
				return nil, fmt.Errorf("The specified log stream does not exist: %w", notFound(in.LogStreamName))
			}
		}
	}
	out := struct {
		Events            []eventOut `json:"events"`
		NextForwardToken  string     `json:"nextForwardToken"`
		NextBackwardToken string     `json:"nextBackwardToken"`
	}{Events: make([]eventOut, 0, len(got))}
	for _, kv := range got {
		out.Events = append(out.Events, eventOut{Timestamp: ms(kv.e.Time), Message: kv.e.Message, IngestionTime: ms(kv.e.Time)})
	}
	if len(got) > 0 {
		last := got[len(got)-1].k
		out.NextForwardToken = "f/" + pos{last.t, last.k + 1}.String()
		out.NextBackwardToken = "b/" + got[0].k.String()
	} else {
		// Nothing (new): the same position both ways, so that a client
		// polling forward gets its token back.
		out.NextForwardToken = "f/" + at.String()
		out.NextBackwardToken = "b/" + at.String()
	}
	return out, nil
}

func (s *Server) filterLogEvents(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupIdentifier  string   `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               *int     `json:"limit"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != "" {
		return nil, invalidParam("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, invalidParam("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	limit, err := limitOf(in.Limit, maxEvents, maxEvents)
	if err != nil {
		return nil, err
	}
	pat, err := ParsePattern(in.FilterPattern)
	if err != nil {
		return nil, err
	}
	from := pos{}
	if in.NextToken != "" {
		p, ok := parsePos(in.NextToken)
		if !ok {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		from = p
	}
	if err := s.authorize(id, "FilterLogEvents", name); err != nil {
		return nil, err
	}
	src, g, err := s.group(ctx, name)
	if err != nil {
		return nil, err
	}
	streams := map[string]bool{}
	for _, n := range in.LogStreamNames {
		streams[n] = true
	}
	w := window{start: in.StartTime, end: in.EndTime, cutoff: s.cutoff(name)}
	type searched struct {
		LogStreamName      string `json:"logStreamName"`
		SearchedCompletely bool   `json:"searchedCompletely"`
	}
	out := struct {
		Events             []eventOut `json:"events"`
		SearchedLogStreams []searched `json:"searchedLogStreams"`
		NextToken          string     `json:"nextToken,omitempty"`
	}{Events: []eventOut{}, SearchedLogStreams: []searched{}}
	bytes := 0
	var kr keyer
	err = src.Events(ctx, g, func(e Event) error {
		k := kr.key(e.Time)
		if k.less(from) {
			return nil
		}
		if len(streams) > 0 && !streams[e.Stream] || !strings.HasPrefix(e.Stream, in.LogStreamNamePrefix) || !w.has(e.Time) || !pat.Match(e.Message) {
			return nil
		}
		if len(out.Events) == limit || bytes+eventSize(e) > maxBytes {
			out.NextToken = k.String()
			return errStop
		}
		bytes += eventSize(e)
		out.Events = append(out.Events, eventOut{LogStreamName: e.Stream, Timestamp: ms(e.Time), Message: e.Message,
			IngestionTime: ms(e.Time), EventID: fmt.Sprintf("%019d%06d%010d", k.t, k.k, crc32.ChecksumIEEE([]byte(e.Stream)))})
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

func (s *Server) putRetentionPolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupName    string `json:"logGroupName"`
		RetentionInDays *int   `json:"retentionInDays"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogGroupName == "" || in.RetentionInDays == nil {
		return nil, invalidParam("logGroupName and retentionInDays are required")
	}
	if *in.RetentionInDays == 0 {
		return nil, invalidParam("1 validation error detected: Value '0' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: %v", validDays)
	}
	return s.setRetention(ctx, id, "PutRetentionPolicy", in.LogGroupName, *in.RetentionInDays)
}

func (s *Server) deleteRetentionPolicy(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		LogGroupName string `json:"logGroupName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogGroupName == "" {
		return nil, invalidParam("logGroupName is required")
	}
	return s.setRetention(ctx, id, "DeleteRetentionPolicy", in.LogGroupName, 0)
}

func (s *Server) setRetention(ctx context.Context, id *identity.Identity, action, name string, days int) (any, error) {
	if err := s.authorize(id, action, name); err != nil {
		return nil, err
	}
	_, g, err := s.group(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.ret.Set(g, days); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
