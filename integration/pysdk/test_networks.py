"""Networks: create with IPAM and options, inspect shape, connect/disconnect, aliases, prune, internal."""

import docker.errors
import docker.types

from base import TestCase


class NetworkTests(TestCase):

    def test_create_ipam_inspect_shape(self):
        subnet, gateway, _ = self.subnet()
        base = subnet.rsplit(".", 1)[0]
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=subnet, gateway=gateway, iprange=base + ".128/25", aux_addresses={"reserved": base + ".2"})])
        n = self.network(ipam=ipam, labels={"pysdk": "yes"}, options={"com.docker.network.bridge.enable_icc": "true"})
        a = n.attrs
        self.assertEqual(a["Name"], n.name)
        self.assertRegex(a["Id"], r"^[0-9a-f]{64}$")
        self.assertEqual(a["Driver"], "bridge")
        self.assertEqual(a["Scope"], "local")
        self.assertFalse(a["EnableIPv6"])
        self.assertFalse(a["Internal"])
        self.assertFalse(a["Attachable"])
        self.assertFalse(a["Ingress"])
        self.assertEqual(a["IPAM"]["Driver"], "default")
        self.assertIsNone(a["IPAM"]["Options"])
        self.assertEqual(a["IPAM"]["Config"], [{"Subnet": subnet, "IPRange": base + ".128/25", "Gateway": gateway,
                                                "AuxiliaryAddresses": {"reserved": base + ".2"}}])
        self.assertEqual(a["Labels"], {"pysdk": "yes"})
        self.assertEqual(a["Options"], {"com.docker.network.bridge.enable_icc": "true"})
        self.assertEqual(a["Containers"], {})
        self.assertEqual(a["ConfigFrom"], {"Network": ""})
        self.assertFalse(a["ConfigOnly"])

    def test_iprange_allocates_inside_range(self):
        subnet, gateway, _ = self.subnet()
        base = subnet.rsplit(".", 1)[0]
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=subnet, gateway=gateway, iprange=base + ".128/25")])
        n = self.network(ipam=ipam)
        c = self.sleeper(network=n.name)
        ip = c.attrs["NetworkSettings"]["Networks"][n.name]["IPAddress"]
        self.assertGreaterEqual(int(ip.rsplit(".", 1)[1]), 128)

    def test_create_duplicate_name(self):
        n = self.network()
        self.assertAPIError(409, self.client.networks.create, n.name, check_duplicate=True)

    def test_create_overlapping_subnet(self):
        n = self.network()
        subnet = n.attrs["IPAM"]["Config"][0]["Subnet"]
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        self.assertAPIError(403, self.client.networks.create, self.name("dup"), ipam=ipam)

    def test_create_unknown_driver(self):
        with self.assertRaises(docker.errors.NotFound):
            self.client.networks.create(self.name("drv"), driver="no-such-driver")

    def test_name_with_spaces(self):
        n = self.network(name=self.name("with space"))
        self.assertEqual(self.client.networks.get(n.id).name, n.name)

    def test_connect_aliases_and_ip(self):
        n = self.network()
        _, _, ip = self.subnet_of(n)
        other = self.network()
        c2 = self.sleeper(network=other.name)
        n.connect(c2, aliases=["svc", "svc2"], ipv4_address=ip)
        c2.reload()
        ep = c2.attrs["NetworkSettings"]["Networks"][n.name]
        self.assertEqual(ep["IPAddress"], ip)
        self.assertEqual(ep["IPPrefixLen"], 24)
        self.assertEqual(ep["Gateway"], n.attrs["IPAM"]["Config"][0]["Gateway"])
        self.assertEqual(ep["IPAMConfig"], {"IPv4Address": ip})
        self.assertEqual(ep["NetworkID"], n.id)
        self.assertIn("svc", ep["Aliases"])
        self.assertIn("svc2", ep["Aliases"])
        self.assertIn(c2.id[:12], ep["Aliases"])
        self.assertRegex(ep["MacAddress"], r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
        self.assertEqual(set(c2.attrs["NetworkSettings"]["Networks"].keys()), {n.name, other.name})

    def test_alias_resolves_on_network(self):
        n = self.network()
        _, _, ip = self.subnet_of(n)
        srv = self.container(["sleep", "1000"], start=False, network=n.name)
        n.disconnect(srv)
        n.connect(srv, aliases=["svc"], ipv4_address=ip)
        srv.start()
        cli = self.container(["sh", "-c", "nslookup svc; nslookup %s" % srv.name], network=n.name)
        self.assertEqual(cli.wait()["StatusCode"], 0)
        out = cli.logs().decode()
        self.assertEqual(out.count(ip), 2, out)

    def test_network_containers_shape(self):
        n = self.network()
        c = self.sleeper(network=n.name)
        n.reload()
        self.assertEqual(list(n.attrs["Containers"].keys()), [c.id])
        e = n.attrs["Containers"][c.id]
        self.assertEqual(e["Name"], c.name)
        ip = c.attrs["NetworkSettings"]["Networks"][n.name]["IPAddress"]
        self.assertEqual(e["IPv4Address"], ip + "/24")
        self.assertEqual(e["IPv6Address"], "")
        self.assertEqual(e["MacAddress"], c.attrs["NetworkSettings"]["Networks"][n.name]["MacAddress"])
        self.assertEqual(e["EndpointID"], c.attrs["NetworkSettings"]["Networks"][n.name]["EndpointID"])
        self.assertEqual([x.id for x in n.containers], [c.id])

    def test_container_legacy_network_fields(self):
        n = self.network()
        c = self.sleeper(network=n.name)
        ns = c.attrs["NetworkSettings"]
        # A container on a user-defined network only: dockerd leaves the legacy fields empty.
        self.assertEqual(ns["IPAddress"], "")
        self.assertEqual(ns["Gateway"], "")
        self.assertEqual(ns["MacAddress"], "")
        self.assertRegex(ns["SandboxKey"], r"^/")
        self.assertEqual(c.attrs["HostConfig"]["NetworkMode"], n.name)

    def test_disconnect(self):
        n = self.network()
        c = self.sleeper(network=n.name)
        n.disconnect(c)
        c.reload()
        self.assertNotIn(n.name, c.attrs["NetworkSettings"]["Networks"])
        n.reload()
        self.assertEqual(n.attrs["Containers"], {})
        r = c.exec_run(["cat", "/sys/class/net/eth0/operstate"])
        self.assertNotEqual(r.exit_code, 0, "eth0 still present after disconnect")

    def test_disconnect_not_connected(self):
        n = self.network()
        c = self.sleeper(network_mode="none")
        with self.assertRaises(docker.errors.APIError) as cm:
            n.disconnect(c)
        # dockerd 20.10 answers 500 ("is not connected to network"), later ones 403.
        self.assertIn(cm.exception.response.status_code, (403, 500))
        self.assertIn("is not connected to network", cm.exception.explanation)

    def test_connect_container_in_none_mode(self):
        n = self.network()
        c = self.sleeper(network_mode="none")
        self.assertAPIError(400, n.connect, c)

    def test_connect_twice(self):
        n = self.network()
        c = self.sleeper(network=n.name)
        err = self.assertAPIError(403, n.connect, c)
        self.assertIn("already exists in network", err.explanation)

    def test_connect_missing_container(self):
        n = self.network()
        with self.assertRaises(docker.errors.NotFound):
            n.connect(self.name("gone"))

    def test_remove_in_use(self):
        n = self.network()
        self.sleeper(network=n.name)
        self.assertAPIError(403, n.remove)

    def test_list_filters(self):
        a = self.network(labels={"pysdk.net": "a"})
        b = self.network(labels={"pysdk.net": "b"})
        self.assertEqual([x.id for x in self.client.networks.list(names=[a.name])], [a.id])
        self.assertEqual([x.id for x in self.client.networks.list(ids=[b.id])], [b.id])
        got = {x.id for x in self.client.networks.list(filters={"label": "pysdk.net"})}
        self.assertEqual(got, {a.id, b.id})
        got = [x.id for x in self.client.networks.list(filters={"label": "pysdk.net=b"})]
        self.assertEqual(got, [b.id])
        got = {x.id for x in self.client.networks.list(filters={"driver": "bridge"})}
        self.assertTrue({a.id, b.id} <= got)
        got = {x.name for x in self.client.networks.list(filters={"type": "builtin"})}
        self.assertTrue({"host", "none"} <= got, got)
        self.assertNotIn(a.name, got)

    def test_builtin_networks(self):
        for name, driver in (("host", "host"), ("none", "null")):
            n = self.client.networks.get(name)
            self.assertEqual(n.attrs["Driver"], driver)
            self.assertEqual(n.attrs["Scope"], "local")
            self.assertAPIError(403, n.remove)

    def test_internal(self):
        n = self.network(internal=True)
        self.assertTrue(n.attrs["Internal"])
        c = self.sleeper(network=n.name)
        self.assertIn(n.name, c.attrs["NetworkSettings"]["Networks"])

    def test_prune(self):
        used = self.network()
        self.sleeper(network=used.name)
        unused = self.network()
        res = self.client.networks.prune()
        self.assertIn(unused.name, res["NetworksDeleted"])
        self.assertNotIn(used.name, res["NetworksDeleted"])
        with self.assertRaises(docker.errors.NotFound):
            self.client.networks.get(unused.id)
        self.assertEqual(self.client.networks.get(used.id).id, used.id)

    def test_prune_label_filter(self):
        keep = self.network(labels={"pysdk.keep": "1"})
        drop = self.network(labels={"pysdk.drop": "1"})
        res = self.client.networks.prune(filters={"label": "pysdk.drop"})
        self.assertEqual(res["NetworksDeleted"], [drop.name])
        self.assertEqual(self.client.networks.get(keep.id).id, keep.id)

    def test_get_missing(self):
        with self.assertRaises(docker.errors.NotFound):
            self.client.networks.get(self.name("gone"))

    def test_ipv6_network(self):
        n = self.network(enable_ipv6=True, ipam=docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=self.subnet()[0]),
            docker.types.IPAMPool(subnet="fd00:%x::/64" % (hash(self.name()) & 0xffff))]))
        self.assertTrue(n.attrs["EnableIPv6"])
        c = self.sleeper(network=n.name)
        ep = c.attrs["NetworkSettings"]["Networks"][n.name]
        self.assertTrue(ep["GlobalIPv6Address"].startswith("fd00:"), ep)

    def subnet_of(self, n):
        """(subnet, gateway, a host address) of a network made by self.network()."""
        cfg = n.attrs["IPAM"]["Config"][0]
        return cfg["Subnet"], cfg["Gateway"], cfg["Subnet"].rsplit(".", 1)[0] + ".10"


class SwarmTests(TestCase):

    def test_swarm_leave_not_in_swarm(self):
        # The SDK's clean-up code calls leave(force=True) and ignores 503 alone.
        self.assertTrue(self.client.swarm.leave(force=True))
        err = self.assertAPIError(503, self.client.swarm.leave)
        self.assertIn("not part of a swarm", str(err))

    def test_info_swarm_inactive(self):
        self.assertEqual(self.client.info()["Swarm"]["LocalNodeState"], "inactive")
