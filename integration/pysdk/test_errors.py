"""Errors as the SDK surfaces them (classes, status codes, explanations), and the system endpoints."""

import docker.errors

from base import IMAGE, TestCase


class ErrorTests(TestCase):

    def test_container_not_found(self):
        name = self.name("gone")
        with self.assertRaises(docker.errors.NotFound) as cm:
            self.client.containers.get(name)
        self.assertEqual(cm.exception.response.status_code, 404)
        self.assertEqual(cm.exception.explanation, "No such container: " + name)
        self.assertTrue(cm.exception.is_client_error())

    def test_image_not_found_on_create(self):
        with self.assertRaises(docker.errors.ImageNotFound) as cm:
            self.api.create_container("local/nope:404", "true")
        self.assertEqual(cm.exception.explanation, "No such image: local/nope:404")

    def test_image_not_found_on_inspect(self):
        with self.assertRaises(docker.errors.ImageNotFound) as cm:
            self.api.inspect_image("local/nope:404")
        self.assertIn("No such image: local/nope:404", cm.exception.explanation)

    def test_network_not_found(self):
        name = self.name("gone")
        with self.assertRaises(docker.errors.NotFound) as cm:
            self.client.networks.get(name)
        self.assertEqual(cm.exception.explanation, "network %s not found" % name)

    def test_volume_not_found(self):
        name = self.name("gone")
        with self.assertRaises(docker.errors.NotFound) as cm:
            self.client.volumes.get(name)
        self.assertEqual(cm.exception.explanation, "get %s: no such volume" % name)

    def test_exec_not_found(self):
        with self.assertRaises(docker.errors.NotFound) as cm:
            self.api.exec_inspect("deadbeef")
        self.assertEqual(cm.exception.explanation, "No such exec instance: deadbeef")

    def test_invalid_container_name(self):
        self.assertAPIError(400, self.client.containers.create, IMAGE, ["true"], name="bad name!")

    def test_invalid_reference(self):
        self.assertAPIError(400, self.client.containers.create, "UPPER:case", ["true"], name=self.name())

    def test_conflicts_are_409(self):
        c = self.sleeper(network_mode="none")
        self.assertAPIError(409, self.client.containers.create, IMAGE, ["true"], name=c.name)
        self.assertAPIError(409, c.remove)
        self.assertAPIError(409, self.client.images.remove, self.client.images.get(IMAGE).id)

    def test_server_error_class(self):
        c = self.container(["true"], start=False)
        err = self.assertAPIError(409, c.top)
        self.assertTrue(err.is_client_error())
        self.assertFalse(err.is_server_error())

    def test_id_prefix_and_name_lookup(self):
        c = self.container(["true"], start=False)
        self.assertEqual(self.client.containers.get(c.id[:12]).id, c.id)
        self.assertEqual(self.client.containers.get(c.name).id, c.id)
        self.assertEqual(self.client.containers.get("/" + c.name).id, c.id)

    def test_unknown_endpoint(self):
        res = self.api._get(self.api._url("/no/such/endpoint"))
        self.assertEqual(res.status_code, 404)
        self.assertEqual(res.json(), {"message": "page not found"})


class SystemTests(TestCase):

    def test_ping(self):
        self.assertTrue(self.client.ping())
        res = self.api._get(self.api.base_url + "/_ping")
        self.assertEqual(res.text, "OK")
        self.assertEqual(res.headers["API-Version"], self.client.version()["ApiVersion"])
        self.assertEqual(res.headers["OSType"], "linux")

    def test_version_shape(self):
        v = self.client.version()
        for key in ("Version", "ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch",
                    "KernelVersion", "Components"):
            self.assertIn(key, v)
        self.assertEqual(v["Os"], "linux")
        self.assertEqual(v["Arch"], "amd64")
        self.assertEqual(v["Components"][0]["Name"], "Engine")

    def test_info_shape(self):
        i = self.client.info()
        for key in ("ID", "Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped", "Images",
                    "Driver", "MemTotal", "NCPU", "OperatingSystem", "OSType", "Architecture",
                    "KernelVersion", "ServerVersion", "DockerRootDir", "Name", "CgroupDriver",
                    "CgroupVersion", "Runtimes", "DefaultRuntime", "SecurityOptions", "Swarm", "Plugins"):
            self.assertIn(key, i)
        self.assertEqual(i["OSType"], "linux")
        self.assertEqual(i["Architecture"], "x86_64")
        self.assertEqual(i["NCPU"], __import__("os").cpu_count())
        self.assertEqual(i["CgroupVersion"], "1")
        # dockerd 20.10 says profile=default, 23.0 and later profile=builtin.
        self.assertTrue({"name=seccomp,profile=default", "name=seccomp,profile=builtin"} & set(i["SecurityOptions"]),
                        i["SecurityOptions"])

    def test_info_counts(self):
        before = self.client.info()
        self.sleeper(network_mode="none")
        self.container(["true"], start=False)
        after = self.client.info()
        self.assertEqual(after["Containers"], before["Containers"] + 2)
        self.assertEqual(after["ContainersRunning"], before["ContainersRunning"] + 1)
        self.assertEqual(after["ContainersStopped"], before["ContainersStopped"] + 1)

    def test_df_shape(self):
        v = self.volume()
        self.container(["true"], start=False, volumes={v.name: {"bind": "/data"}})
        df = self.client.df()
        self.assertTrue(set(df.keys()) >= {"LayersSize", "Images", "Containers", "Volumes"}, df.keys())
        vols = {x["Name"]: x for x in df["Volumes"]}
        self.assertEqual(vols[v.name]["UsageData"]["RefCount"], 1)
