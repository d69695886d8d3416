"""Volumes: create, inspect, list filters, remove in use, prune."""

import docker.errors

from base import TestCase


class VolumeTests(TestCase):

    def test_create_inspect_shape(self):
        v = self.volume(labels={"pysdk": "v"})
        a = v.attrs
        self.assertEqual(a["Name"], v.name)
        self.assertEqual(a["Driver"], "local")
        self.assertEqual(a["Scope"], "local")
        self.assertEqual(a["Labels"], {"pysdk": "v"})
        self.assertIsNone(a["Options"])
        self.assertTrue(a["Mountpoint"].endswith("/volumes/%s/_data" % v.name), a["Mountpoint"])
        self.assertRegex(a["CreatedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(self.client.volumes.get(v.name).attrs, a)

    def test_create_with_driver_opts(self):
        v = self.volume(driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
        self.assertEqual(v.attrs["Options"], {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
        c = self.container(["sh", "-c", "grep ' /data ' /proc/mounts"], volumes={v.name: {"bind": "/data"}},
                           network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 0)
        self.assertIn(b"tmpfs /data tmpfs", c.logs())

    def test_create_is_idempotent(self):
        v = self.volume(labels={"a": "1"})
        again = self.client.volumes.create(v.name)
        self.assertEqual(again.name, v.name)
        self.assertEqual(again.attrs["Labels"], {"a": "1"})

    def test_create_unknown_driver(self):
        with self.assertRaises(docker.errors.NotFound):
            self.client.volumes.create(self.name("vol"), driver="no-such-driver")

    def test_anonymous_volume_name(self):
        c = self.container(["true"], start=False, volumes=["/anon"])
        name = c.attrs["Mounts"][0]["Name"]
        self.assertRegex(name, r"^[0-9a-f]{64}$")

    def test_data_persists_across_containers(self):
        v = self.volume()
        w = self.container(["sh", "-c", "echo persisted > /data/f"], volumes={v.name: {"bind": "/data"}},
                           network_mode="none")
        w.wait()
        r = self.container(["cat", "/data/f"], volumes={v.name: {"bind": "/data", "mode": "ro"}},
                           network_mode="none")
        r.wait()
        self.assertEqual(r.logs(), b"persisted\n")

    def test_volume_copies_image_content(self):
        v = self.volume()
        c = self.container(["ls", "/bin/busybox"], volumes={v.name: {"bind": "/bin"}}, network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 0)

    def test_list_filters(self):
        a = self.volume(labels={"pysdk.vol": "a"})
        b = self.volume(labels={"pysdk.vol": "b"})
        self.container(["true"], start=False, volumes={b.name: {"bind": "/data"}})

        def names(**filters):
            return sorted(v.name for v in self.client.volumes.list(filters=filters))
        self.assertEqual(names(name=a.name), [a.name])
        self.assertEqual(names(label="pysdk.vol"), sorted([a.name, b.name]))
        self.assertEqual(names(label="pysdk.vol=b"), [b.name])
        self.assertIn(a.name, names(dangling="true"))
        self.assertNotIn(b.name, names(dangling="true"))
        self.assertIn(b.name, names(dangling="false"))
        self.assertEqual(names(driver="local", label="pysdk.vol=a"), [a.name])
        res = self.api.volumes(filters={"name": a.name})
        self.assertEqual(set(res.keys()), {"Volumes", "Warnings"})

    def test_remove_in_use(self):
        v = self.volume()
        self.container(["true"], start=False, volumes={v.name: {"bind": "/data"}})
        self.assertAPIError(409, v.remove)
        self.assertAPIError(409, v.remove, force=True)

    def test_remove(self):
        v = self.volume()
        v.remove()
        with self.assertRaises(docker.errors.NotFound):
            self.client.volumes.get(v.name)

    def test_remove_missing(self):
        with self.assertRaises(docker.errors.NotFound):
            self.api.remove_volume(self.name("gone"))

    def test_prune(self):
        used = self.volume()
        self.container(["true"], start=False, volumes={used.name: {"bind": "/data"}})
        unused = self.volume()
        w = self.container(["sh", "-c", "head -c 102400 /dev/zero > /data/blob"],
                           volumes={unused.name: {"bind": "/data"}}, network_mode="none")
        w.wait()
        w.remove()
        res = self.client.volumes.prune()
        self.assertIn(unused.name, res["VolumesDeleted"])
        self.assertNotIn(used.name, res["VolumesDeleted"])
        self.assertGreaterEqual(res["SpaceReclaimed"], 102400)
        self.assertEqual(self.client.volumes.get(used.name).name, used.name)

    def test_prune_label_filter(self):
        keep = self.volume(labels={"pysdk.keep": "1"})
        drop = self.volume(labels={"pysdk.drop": "1"})
        res = self.client.volumes.prune(filters={"label": "pysdk.drop"})
        self.assertEqual(res["VolumesDeleted"], [drop.name])
        self.assertEqual(self.client.volumes.get(keep.name).name, keep.name)

    def test_get_missing(self):
        with self.assertRaises(docker.errors.NotFound):
            self.client.volumes.get(self.name("gone"))
