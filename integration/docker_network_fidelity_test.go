package integration

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	mcontainer "github.com/moby/moby/api/types/container"
	mnetwork "github.com/moby/moby/api/types/network"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// legacyInspectResponse is a container's inspect as API versions before
// 1.52 give it: NetworkSettings with the deprecated top-level fields the
// Moby types no longer carry (strictDecode must know every field).
type legacyInspectResponse struct {
	mcontainer.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

type legacyNetworkSettings struct {
	mcontainer.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []any
	SecondaryIPv6Addresses []any
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

// randomULA returns a random IPv6 /64 of the unique local range, for a
// test network that collides with no other.
func randomULA() string {
	var a [16]byte
	a[0] = 0xfd
	_, _ = rand.Read(a[1:8])
	a[6], a[7] = 0, 0 // the /64's last 16 bits of network: zero, for readability
	return netip.PrefixFrom(netip.AddrFrom16(a), 64).String()
}

// TestDockerNetworkFidelity checks, through the docker CLI and the raw
// API, the network answers of dockerd 20.10 (recorded against a dockerd
// with the same commands and requests): names, IPAM, IPv6, endpoint
// settings, legacy links, the legacy NetworkSettings fields and the
// network part of stats.
func TestDockerNetworkFidelity(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	subnet := testutil.FreeSubnet(t)
	prefix := strings.TrimSuffix(subnet, "0/24")

	t.Run("Names", func(t *testing.T) {
		// dockerd takes any non-empty name: spaces, slashes, colons.
		for _, name := range []string{"my net", "a b/c", "x:y"} {
			dk.must(t, "network", "create", name)
			if got := strings.TrimSpace(dk.must(t, "network", "inspect", "-f", "{{.Name}}", name)); got != name {
				t.Errorf("network %q inspects as %q", name, got)
			}
			dk.must(t, "network", "rm", name)
		}
		// Attachable (compose 1.x sends it) is taken and shown; an
		// ingress network is a swarm's.
		if code, body := apiDo(t, d.Socket, "POST", "/v1.41/networks/create", `{"Name":"att","Attachable":true}`); code != 201 {
			t.Errorf("create attachable: %d %s", code, body)
		}
		if got := strings.TrimSpace(dk.must(t, "network", "inspect", "-f", "{{.Attachable}}", "att")); got != "true" {
			t.Errorf("Attachable %s", got)
		}
		dk.must(t, "network", "rm", "att")
		if code, body := apiDo(t, d.Socket, "POST", "/v1.41/networks/create", `{"Name":"ing","Ingress":true}`); code != 403 || !strings.Contains(string(body), "Ingress network can only be global scope network") {
			t.Errorf("create ingress: %d %s", code, body)
		}
		for _, name := range []string{"bridge", "host", "none"} {
			code, body := apiDo(t, d.Socket, "POST", "/v1.41/networks/create", `{"Name":"`+name+`"}`)
			if code != 403 || !strings.Contains(string(body), "operation is not permitted on predefined "+name+" network") {
				t.Errorf("create %s: %d %s", name, code, body)
			}
		}
	})

	t.Run("IPAM", func(t *testing.T) {
		code, body := apiDo(t, d.Socket, "POST", "/v1.41/networks/create", `{"Name":"plain"}`)
		if code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
		_, body = apiDo(t, d.Socket, "GET", "/v1.41/networks/plain", "")
		var raw struct {
			IPAM struct {
				Options map[string]string
				Config  []map[string]any
			}
		}
		if err := json.Unmarshal(body, &raw); err != nil || raw.IPAM.Options != nil || !strings.Contains(string(body), `"Options":null`) ||
			len(raw.IPAM.Config) != 1 || raw.IPAM.Config[0]["Gateway"] == nil {
			t.Errorf("IPAM of a network created without one (dockerd: Options null, a picked subnet with its gateway): %s", body)
		}
		dk.must(t, "network", "rm", "plain")

		body2 := `{"Name":"aux","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"` + subnet + `","AuxiliaryAddresses":{"router":"` + prefix + `5"}}]}}`
		if code, body := apiDo(t, d.Socket, "POST", "/v1.41/networks/create", body2); code != 201 {
			t.Fatalf("create with an auxiliary address: %d %s", code, body)
		}
		_, body = apiDo(t, d.Socket, "GET", "/v1.41/networks/aux", "")
		var ni mnetwork.Inspect
		if err := json.Unmarshal(body, &ni); err != nil || ni.IPAM.Options == nil || len(ni.IPAM.Config) != 1 ||
			ni.IPAM.Config[0].Gateway.IsValid() || ni.IPAM.Config[0].AuxAddress["router"].String() != prefix+"5" {
			t.Errorf("IPAM as given (dockerd: Options {}, no gateway shown, the auxiliary address kept): %s", body)
		}
		// The auxiliary address is never handed out.
		if _, errOut, code := dk.run(t, nil, "run", "--rm", "--network", "aux", "--ip", prefix+"5", busybox, "true"); code == 0 || !strings.Contains(errOut, "Address already in use") {
			t.Errorf("run with the auxiliary address: exit %d: %s", code, errOut)
		}
		for i := 0; i < 5; i++ {
			out := dk.must(t, "run", "--rm", "--network", "aux", busybox, "ip", "-o", "-4", "addr", "show", "eth0")
			if strings.Contains(out, prefix+"5/") {
				t.Fatalf("a container got the auxiliary address: %s", out)
			}
		}
		dk.must(t, "network", "rm", "aux")
	})

	t.Run("IPv6", func(t *testing.T) {
		if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding"); err != nil || strings.TrimSpace(string(b)) != "0" {
			t.Skip("skipping: the host forwards IPv6 (or has none), and wharf refuses IPv6 networks then")
		}
		ula := randomULA()
		v6prefix := strings.TrimSuffix(ula, "/64")
		v4 := testutil.FreeSubnet(t)
		dk.must(t, "network", "create", "--ipv6", "--subnet", v4, "--subnet", ula, "v6net")
		defer dk.run(t, nil, "network", "rm", "v6net")
		if got := strings.TrimSpace(dk.must(t, "network", "inspect", "-f", "{{.EnableIPv6}} {{len .IPAM.Config}} {{(index .IPAM.Config 1).Subnet}}", "v6net")); got != "true 2 "+ula {
			t.Errorf("network inspect: %q", got)
		}
		br := "wb-" + strings.TrimSpace(dk.must(t, "network", "inspect", "-f", "{{.Id}}", "v6net"))[:12]
		if out, err := exec6(br); err != nil || !strings.Contains(out, v6prefix+"1/64") {
			t.Errorf("the bridge lacks the IPv6 gateway %s1: %v\n%s", v6prefix, err, out)
		}
		dk.must(t, "run", "-d", "--name", "six", "--network", "v6net", busybox, "sleep", "600")
		dk.must(t, "run", "-d", "--name", "six2", "--network", "v6net", "--ip6", v6prefix+"42", busybox, "sleep", "600")
		defer dk.run(t, nil, "rm", "-f", "six", "six2")
		got := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}} {{.NetworkSettings.Networks.v6net.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.v6net.IPv6Gateway}}", "six"))
		if got != v6prefix+"2 64 "+v6prefix+"1" {
			t.Errorf("IPv6 of the container (dockerd: the first address after the gateway): %q", got)
		}
		if out := dk.must(t, "exec", "six", "ip", "-6", "route"); !strings.Contains(out, "default via "+v6prefix+"1") {
			t.Errorf("IPv6 default route:\n%s", out)
		}
		if out := dk.must(t, "exec", "six", "cat", "/etc/hosts"); !strings.Contains(out, v6prefix+"2\t") {
			t.Errorf("hosts lacks the IPv6 address:\n%s", out)
		}
		if out, errOut, code := dk.run(t, nil, "exec", "six", "ping", "-6", "-c", "1", "-W", "5", v6prefix+"42"); code != 0 {
			t.Errorf("ping6 between the containers: %d %s %s", code, out, errOut)
		}
		if out := dk.must(t, "exec", "six", "nslookup", "-type=AAAA", "six2"); !strings.Contains(out, v6prefix+"42") {
			t.Errorf("AAAA of a container:\n%s", out)
		}
		if out := dk.must(t, "network", "inspect", "-f", "{{range .Containers}}{{.IPv6Address}} {{end}}", "v6net"); !strings.Contains(out, v6prefix+"42/64") {
			t.Errorf("network inspect Containers: %q", out)
		}
		// --ip6 on a network without IPv6 is refused.
		if _, errOut, code := dk.run(t, nil, "create", "--network", "bridge", "--ip6", v6prefix+"9", busybox, "true"); code == 0 {
			t.Errorf("--ip6 on the default bridge was accepted: %s", errOut)
		}
	})

	t.Run("EndpointSettings", func(t *testing.T) {
		dk.must(t, "network", "create", "--subnet", subnet, "epnet")
		defer dk.run(t, nil, "network", "rm", "epnet")
		dk.must(t, "run", "-d", "--name", "target", "--network", "epnet", busybox, "sleep", "600")
		defer dk.run(t, nil, "rm", "-f", "target")
		req := `{"Image":"` + busybox + `","Cmd":["sleep","600"],"HostConfig":{"NetworkMode":"epnet"},"NetworkingConfig":{"EndpointsConfig":{"epnet":{` +
			`"Links":["target:tl"],"MacAddress":"02:11:22:33:44:55","IPAMConfig":{"IPv4Address":"` + prefix + `50","LinkLocalIPs":["169.254.9.9","fe80::99"]},` +
			`"DriverOpts":{"foo":"bar"},"Aliases":["a1","a2"]}}}}`
		if code, body := apiDo(t, d.Socket, "POST", "/v1.44/containers/create?name=ep1", req); code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
		defer dk.run(t, nil, "rm", "-f", "ep1")
		dk.must(t, "start", "ep1")
		_, body := apiDo(t, d.Socket, "GET", "/v1.44/containers/ep1/json", "")
		var c legacyInspectResponse
		strictDecode(t, body, &c)
		es := c.NetworkSettings.Networks["epnet"]
		switch {
		case es == nil:
			t.Fatalf("no endpoint: %s", body)
		case es.IPAMConfig == nil || es.IPAMConfig.IPv4Address.String() != prefix+"50" || len(es.IPAMConfig.LinkLocalIPs) != 2:
			t.Errorf("IPAMConfig: %+v", es.IPAMConfig)
		case len(es.Links) != 1 || es.Links[0] != "target:tl" || es.DriverOpts["foo"] != "bar":
			t.Errorf("Links %v DriverOpts %v", es.Links, es.DriverOpts)
		case es.MacAddress.String() != "02:11:22:33:44:55" || es.IPAddress.String() != prefix+"50":
			t.Errorf("MacAddress %s IPAddress %s", es.MacAddress, es.IPAddress)
		case len(es.Aliases) != 3 || es.Aliases[0] != "a1" || es.Aliases[2] != c.ID[:12]:
			t.Errorf("Aliases (dockerd up to API 1.44: the given ones and the short ID): %v", es.Aliases)
		}
		out := dk.must(t, "exec", "ep1", "ip", "addr", "show", "eth0")
		for _, want := range []string{"link/ether 02:11:22:33:44:55", "inet " + prefix + "50/24", "inet 169.254.9.9/16", "inet6 fe80::99/64"} {
			if !strings.Contains(out, want) {
				t.Errorf("eth0 lacks %q:\n%s", want, out)
			}
		}
		// The link's alias resolves for its container alone.
		if out := dk.must(t, "exec", "ep1", "nslookup", "tl"); !strings.Contains(out, "Name:\ttl") {
			t.Errorf("the link alias does not resolve in its container:\n%s", out)
		}
		if _, _, code := dk.run(t, nil, "exec", "target", "nslookup", "tl"); code == 0 {
			t.Error("another container of the network resolves the link alias")
		}
		// What wharf cannot do is refused, never dropped.
		for _, bad := range []struct{ ep, want string }{
			{`"MacAddress":"zz"`, "invalid MAC address"},
			{`"IPAMConfig":{"LinkLocalIPs":["10.1.1.1"]}`, "invalid link local IP address"},
			{`"IPAMConfig":{"IPv4Address":"10.254.254.5"}`, "does not belong to any of this network's subnets"},
			{`"IPAMConfig":{"IPv6Address":"fd00:61::5"}`, "user specified IP address is supported only when connecting to networks with user configured subnets"},
			{`"DriverOpts":{"com.docker.network.endpoint.sysctls":"net.ipv4.conf.IFNAME.log_martians=1"}`, "not supported"},
		} {
			req := `{"Image":"` + busybox + `","Cmd":["true"],"HostConfig":{"NetworkMode":"epnet"},"NetworkingConfig":{"EndpointsConfig":{"epnet":{` + bad.ep + `}}}}`
			if code, body := apiDo(t, d.Socket, "POST", "/v1.44/containers/create", req); code != 400 || !strings.Contains(string(body), bad.want) {
				t.Errorf("create with %s: %d %s, want 400 %q", bad.ep, code, body, bad.want)
			}
		}
		// docker network connect takes the same settings.
		dk.must(t, "run", "-d", "--name", "late", busybox, "sleep", "600")
		defer dk.run(t, nil, "rm", "-f", "late")
		dk.must(t, "network", "connect", "--ip", prefix+"60", "--alias", "al", "--link-local-ip", "169.254.7.7", "--driver-opt", "k=v", "--link", "target:tgt", "epnet", "late")
		got := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{with .NetworkSettings.Networks.epnet}}{{.IPAddress}} {{.IPAMConfig.IPv4Address}} {{.IPAMConfig.LinkLocalIPs}} {{.DriverOpts}} {{.Links}}{{end}}", "late"))
		if got != prefix+"60 "+prefix+"60 [169.254.7.7] map[k:v] [target:tgt]" {
			t.Errorf("connect's endpoint settings: %q", got)
		}
		if out := dk.must(t, "exec", "late", "ip", "addr", "show", "eth1"); !strings.Contains(out, "169.254.7.7/16") {
			t.Errorf("eth1 after connect:\n%s", out)
		}
	})

	t.Run("LegacyLinks", func(t *testing.T) {
		rootfs := os.TempDir() + "/wharf-links-rootfs-" + fmt.Sprint(time.Now().UnixNano()) + ".tar"
		if err := os.WriteFile(rootfs, testutil.BusyboxRootfsTar(t), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(rootfs)
		dk.must(t, "import", "-c", "ENV DBV=1", "-c", "EXPOSE 5432 53/udp", rootfs, "local/exposing:1")
		dk.must(t, "run", "-d", "--name", "db", "-e", "SECRET=s3", "local/exposing:1", "sleep", "600")
		defer dk.run(t, nil, "rm", "-f", "db")
		dbIP := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"))
		dbHost := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.Config.Hostname}}", "db"))
		dk.must(t, "run", "-d", "--name", "cl", "--link", "db:mydb", "--link", "db", busybox, "sleep", "600")
		defer dk.run(t, nil, "rm", "-f", "cl")
		env := dk.must(t, "exec", "cl", "env")
		for _, want := range []string{
			"MYDB_NAME=/cl/mydb", "DB_NAME=/cl/db", "MYDB_ENV_DBV=1", "MYDB_ENV_SECRET=s3",
			"MYDB_PORT=udp://" + dbIP + ":53", "MYDB_PORT_5432_TCP=tcp://" + dbIP + ":5432", "MYDB_PORT_5432_TCP_ADDR=" + dbIP,
			"MYDB_PORT_5432_TCP_PORT=5432", "MYDB_PORT_5432_TCP_PROTO=tcp", "MYDB_PORT_53_UDP=udp://" + dbIP + ":53",
		} {
			if !strings.Contains(env, want+"\n") {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
		if strings.Contains(env, "MYDB_ENV_PATH") || strings.Contains(env, "MYDB_ENV_HOME") {
			t.Errorf("env carries the linked container's PATH or HOME:\n%s", env)
		}
		hosts := dk.must(t, "exec", "cl", "cat", "/etc/hosts")
		for _, want := range []string{dbIP + "\tmydb " + dbHost + " db\n", dbIP + "\tdb " + dbHost + "\n"} {
			if !strings.Contains(hosts, want) {
				t.Errorf("hosts lacks %q:\n%s", want, hosts)
			}
		}
		links := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{json .HostConfig.Links}}", "cl"))
		if links != `["/db:/cl/mydb","/db:/cl/db"]` {
			t.Errorf("HostConfig.Links %s", links)
		}
		_, body := apiDo(t, d.Socket, "GET", "/v1.41/containers/json", "")
		var list []mcontainer.Summary
		_ = json.Unmarshal(body, &list)
		for _, c := range list {
			if c.Names[0] == "/db" {
				if got := strings.Join(c.Names, ","); got != "/db,/cl/db,/cl/mydb" {
					t.Errorf("Names of the linked container: %s", got)
				}
			}
		}
		// The linked container restarts with a new address: the linking
		// one's hosts follow.
		dk.must(t, "restart", "-t", "0", "db")
		newIP := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"))
		if hosts := dk.must(t, "exec", "cl", "cat", "/etc/hosts"); !strings.Contains(hosts, newIP+"\tmydb ") {
			t.Errorf("hosts after the linked container restarted with %s:\n%s", newIP, hosts)
		}
		dk.must(t, "rm", "--link", "/cl/mydb")
		if links := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{json .HostConfig.Links}}", "cl")); links != `["/db:/cl/db"]` {
			t.Errorf("HostConfig.Links after rm --link: %s", links)
		}
		if hosts := dk.must(t, "exec", "cl", "cat", "/etc/hosts"); strings.Contains(hosts, "mydb") || !strings.Contains(hosts, "\tdb ") {
			t.Errorf("hosts after rm --link:\n%s", hosts)
		}
		if _, errOut, code := dk.run(t, nil, "create", "--link", "nope:x", busybox, "true"); code == 0 || !strings.Contains(errOut, "could not get container for nope") {
			t.Errorf("link to a missing container: %d %s", code, errOut)
		}
		if _, errOut, code := dk.run(t, nil, "run", "--rm", "--network", "host", "--link", "db", busybox, "true"); code == 0 || !strings.Contains(errOut, "host type networking can't be used with links") {
			t.Errorf("link with host networking: %d %s", code, errOut)
		}
		dk.must(t, "stop", "-t", "0", "db")
		if _, errOut, code := dk.run(t, nil, "run", "--rm", "--link", "db:x", busybox, "true"); code == 0 || !strings.Contains(errOut, "Cannot link to a non running container: /db AS /") {
			t.Errorf("link to a stopped container: %d %s", code, errOut)
		}
	})

	t.Run("LegacyFieldsAndStats", func(t *testing.T) {
		id := strings.TrimSpace(dk.must(t, "run", "-d", busybox, "sleep", "600"))
		defer dk.run(t, nil, "rm", "-f", id)
		_, body := apiDo(t, d.Socket, "GET", "/v1.41/containers/"+id+"/json", "")
		var c legacyInspectResponse
		strictDecode(t, body, &c)
		ns, es := c.NetworkSettings, c.NetworkSettings.Networks["bridge"]
		if es == nil || ns.IPAddress == "" || ns.IPAddress != es.IPAddress.String() || ns.Gateway != es.Gateway.String() ||
			ns.IPPrefixLen != es.IPPrefixLen || ns.MacAddress != es.MacAddress.String() || ns.EndpointID != es.EndpointID {
			t.Errorf("the legacy fields are not those of the default bridge endpoint: %+v", ns)
		}
		if !strings.Contains(string(body), `"SecondaryIPAddresses":null`) {
			t.Errorf("SecondaryIPAddresses is not null: %s", body)
		}
		dk.must(t, "exec", id, "ping", "-c", "1", "-W", "2", ns.Gateway)
		_, body = apiDo(t, d.Socket, "GET", "/v1.41/containers/"+id+"/stats?stream=0", "")
		var st struct {
			Networks map[string]struct {
				RxPackets uint64 `json:"rx_packets"`
				TxPackets uint64 `json:"tx_packets"`
			} `json:"networks"`
			CPUStats struct {
				CPUUsage struct {
					PercpuUsage []uint64 `json:"percpu_usage"`
				} `json:"cpu_usage"`
			} `json:"cpu_stats"`
			BlkioStats map[string]json.RawMessage `json:"blkio_stats"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if eth0, ok := st.Networks["eth0"]; !ok || eth0.TxPackets == 0 || len(st.Networks) != 1 {
			t.Errorf("stats networks (dockerd: eth0 alone, with its counters): %s", body)
		}
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil && len(st.CPUStats.CPUUsage.PercpuUsage) == 0 {
			t.Errorf("stats lack percpu_usage on cgroup v1: %s", body)
		}
		var keys []string
		for k, v := range st.BlkioStats {
			keys = append(keys, k)
			if string(v) != "[]" {
				t.Errorf("blkio %s = %s, want [] as dockerd gives", k, v)
			}
		}
		sort.Strings(keys)
		if len(keys) != 8 {
			t.Errorf("blkio_stats: %v", keys)
		}
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaksKeepNets(t, d) })
}

// exec6 lists a host link's IPv6 addresses.
func exec6(link string) (string, error) {
	out, err := exec.Command("ip", "-6", "addr", "show", "dev", link).CombinedOutput()
	return string(out), err
}
