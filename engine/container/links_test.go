package container

import (
	"slices"
	"sort"
	"testing"
)

// The variables of a link are dockerd's: recorded with `docker exec cl
// env` against dockerd 20.10 for `--link db:mydb` to a container whose
// image exposes 5432 and 53/udp and sets DBV=1 and PATH, run with
// -e SECRET=s3.
func TestLinkEnvIsDockerds(t *testing.T) {
	got := linkEnv("/cl/mydb", "10.198.0.2", []string{"SECRET=s3", "DBV=1", "PATH=/bin", "HOME=/", "NOVALUE"}, []string{"5432/tcp", "53/udp"})
	want := []string{
		"MYDB_ENV_DBV=1",
		"MYDB_ENV_SECRET=s3",
		"MYDB_NAME=/cl/mydb",
		"MYDB_PORT=udp://10.198.0.2:53",
		"MYDB_PORT_53_UDP=udp://10.198.0.2:53",
		"MYDB_PORT_53_UDP_ADDR=10.198.0.2",
		"MYDB_PORT_53_UDP_PORT=53",
		"MYDB_PORT_53_UDP_PROTO=udp",
		"MYDB_PORT_5432_TCP=tcp://10.198.0.2:5432",
		"MYDB_PORT_5432_TCP_ADDR=10.198.0.2",
		"MYDB_PORT_5432_TCP_PORT=5432",
		"MYDB_PORT_5432_TCP_PROTO=tcp",
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("link env:\n%q\nwant\n%q", got, want)
	}
}

// Contiguous ports also get _START and _END variables, as in dockerd's
// own tests (daemon/links TestLinkMultipleEnv); a dash in the alias is
// an underscore.
func TestLinkEnvPortRanges(t *testing.T) {
	env := map[string]bool{}
	for _, kv := range linkEnv("/a/my-db", "172.0.17.2", nil, []string{"6381/tcp", "6379/tcp", "6380/tcp"}) {
		env[kv] = true
	}
	for _, want := range []string{
		"MY_DB_PORT=tcp://172.0.17.2:6379",
		"MY_DB_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
		"MY_DB_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
		"MY_DB_PORT_6379_TCP_PORT_START=6379",
		"MY_DB_PORT_6379_TCP_PORT_END=6381",
		"MY_DB_PORT_6380_TCP=tcp://172.0.17.2:6380",
		"MY_DB_PORT_6381_TCP_PROTO=tcp",
		"MY_DB_NAME=/a/my-db",
	} {
		if !env[want] {
			t.Errorf("link env lacks %s: %v", want, env)
		}
	}
}
