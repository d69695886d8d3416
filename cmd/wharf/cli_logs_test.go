package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/api/wharf"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Unix(1_700_000_000, 500)
	local := time.Date(2024, 1, 2, 13, 23, 37, 0, time.Local)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"10m", "1699999400.000000500"},
		{"1h30m", "1699994600.000000500"},
		{"0", "0"},
		{"1700000000", "1700000000"},
		{"1700000000.25", "1700000000.25"},
		{"2024-01-02T13:23:37Z", "1704201817.000000000"},
		{"2024-01-02T13:23:37.5+01:00", "1704198217.500000000"},
		{"2024-01-02T13:23:37", formatUnix(local)},
		{"2024-01-02", formatUnix(time.Date(2024, 1, 2, 0, 0, 0, 0, time.Local))},
	} {
		got, err := parseTimestamp("since", tc.in, now)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	_, err := parseTimestamp("since", "yesterday", now)
	if err == nil || err.Error() != `invalid value for "since": failed to parse value as time or duration: "yesterday"` {
		t.Errorf("err = %v", err)
	}
}

func TestStatsRow(t *testing.T) {
	prev := wharf.Stats{CPUUsage: 1_000_000_000, SystemUsage: 100_000_000_000}
	cur := wharf.Stats{ID: strings.Repeat("f", 64), Name: "/web", CPUUsage: 1_500_000_000, SystemUsage: 104_000_000_000, OnlineCPUs: 4,
		MemoryUsage: 150 << 20, MemoryCache: 50 << 20, MemoryLimit: 1 << 30, PidsCurrent: 7}
	r := statsRowOf("web", &prev, cur, false)
	want := statsRow{BlockIO: "--", CPUPerc: "50.00%", Container: "web", ID: "ffffffffffff", MemPerc: "9.77%",
		MemUsage: "100MiB / 1GiB", Name: "web", NetIO: "--", PIDs: "7"}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if r := statsRowOf("web", nil, cur, true); r.CPUPerc != "0.00%" || r.ID != cur.ID {
		t.Errorf("first sample: %+v", r)
	}
	if p := cpuPercent(cur, prev); p != 0 {
		t.Errorf("counters going backwards must read 0, got %v", p)
	}

	tr := newStatsTracker([]string{"web", "idle"})
	tr.add("web", prev)
	tr.add("web", cur)
	var b bytes.Buffer
	if err := renderFormatted(&b, "", defaultStatsFormat, statsHeader(), tr.rows(false)); err != nil {
		t.Fatal(err)
	}
	wantTable := "" +
		"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     PIDS\n" +
		"ffffffffffff   web       50.00%    100MiB / 1GiB       9.77%     7\n"
	if b.String() != wantTable {
		t.Errorf("got\n%s\nwant\n%s", b.String(), wantTable)
	}
}

func TestWaitStatus(t *testing.T) {
	if err := waitStatus(strings.NewReader(`{"StatusCode":0}`)); err != nil {
		t.Errorf("status 0: %v", err)
	}
	err := waitStatus(strings.NewReader(`{"StatusCode":3}`))
	if e, ok := err.(exitError); !ok || e.code != 3 || e.err != nil {
		t.Errorf("status 3: %#v", err)
	}
	err = waitStatus(strings.NewReader(`{"StatusCode":0,"Error":{"Message":"boom"}}`))
	if e, ok := err.(exitError); !ok || e.code != 125 || e.err.Error() != "boom" {
		t.Errorf("error: %#v", err)
	}
}
