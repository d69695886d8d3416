"""Containers: kill/stop/restart/remove, rename, pause, top, stats, archive, diff, export, commit, update."""

import time
import urllib.request

import docker.errors

from base import IMAGE, TestCase, tar_of, untar, wait_until


class KillStopTests(TestCase):

    def test_kill_is_done_when_it_answers(self):
        # dockerd answers a SIGKILL once the exit is recorded. A daemon that
        # answers earlier loses a race it may win now and then: try a few.
        for _ in range(5):
            c = self.sleeper(network_mode="none")
            c.kill()
            c.reload()
            self.assertEqual(c.status, "exited")
            self.assertEqual(c.attrs["State"]["ExitCode"], 137)
            self.assertEqual(c.wait()["StatusCode"], 137)

    def test_kill_with_signal(self):
        c = self.container(["sh", "-c", "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done"],
                           network_mode="none")
        self.wait_logs(c, b"ready")
        c.kill(signal="SIGUSR1")
        self.assertEqual(c.wait()["StatusCode"], 42)

    def test_kill_not_running(self):
        c = self.container(["true"], start=False)
        self.assertAPIError(409, c.kill)

    def test_stop_timeout_kills(self):
        c = self.sleeper(network_mode="none")
        t0 = time.monotonic()
        c.stop(timeout=1)
        took = time.monotonic() - t0
        c.reload()
        self.assertEqual(c.attrs["State"]["ExitCode"], 137)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 8)

    def test_stop_signal_honoured(self):
        c = self.container(["sh", "-c", "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done"],
                           stop_signal="SIGUSR1", network_mode="none")
        self.wait_logs(c, b"ready")
        c.stop(timeout=5)
        c.reload()
        self.assertEqual(c.attrs["State"]["ExitCode"], 9)

    def test_stop_stopped_is_not_an_error(self):
        c = self.container(["true"], network_mode="none")
        c.wait()
        c.stop()  # dockerd answers 304 Not Modified

    def test_restart(self):
        c = self.sleeper(network_mode="none")
        started = c.attrs["State"]["StartedAt"]
        pid = c.attrs["State"]["Pid"]
        c.restart(timeout=1)
        c.reload()
        self.assertEqual(c.status, "running")
        self.assertNotEqual(c.attrs["State"]["StartedAt"], started)
        self.assertNotEqual(c.attrs["State"]["Pid"], pid)
        self.assertEqual(c.attrs["RestartCount"], 0)

    def test_restart_always_delete_refused_while_running(self):
        c = self.container(["sh", "-c", "sleep 0.2; exit 1"], network_mode="none",
                           restart_policy={"Name": "always"})
        self.assertTrue(wait_until(lambda: (c.reload(), c.attrs["RestartCount"] >= 1)[1], 15))
        self.assertAPIError(409, c.remove)
        c.remove(force=True)
        with self.assertRaises(docker.errors.NotFound):
            c.reload()


class RemoveTests(TestCase):

    def test_remove_running_conflict_then_force(self):
        c = self.sleeper(network_mode="none")
        self.assertAPIError(409, c.remove)
        c.remove(force=True)
        with self.assertRaises(docker.errors.NotFound):
            self.client.containers.get(c.id)

    def test_remove_v_removes_anonymous_volume(self):
        c = self.container(["true"], start=False, volumes=["/data"])
        vol = c.attrs["Mounts"][0]["Name"]
        self.addCleanup(self._remove_volume, vol)
        self.assertEqual(self.client.volumes.get(vol).name, vol)
        c.remove(v=True)
        with self.assertRaises(docker.errors.NotFound):
            self.client.volumes.get(vol)

    def test_remove_without_v_keeps_anonymous_volume(self):
        c = self.container(["true"], start=False, volumes=["/data"])
        vol = c.attrs["Mounts"][0]["Name"]
        self.addCleanup(self._remove_volume, vol)
        c.remove()
        self.assertEqual(self.client.volumes.get(vol).name, vol)

    def test_remove_missing(self):
        with self.assertRaises(docker.errors.NotFound):
            self.api.remove_container(self.name("gone"))


class RenamePauseTests(TestCase):

    def test_rename(self):
        c = self.container(["true"], start=False)
        old = c.name
        new = self.name("renamed")
        c.rename(new)
        c.reload()
        self.assertEqual(c.name, new)
        self.assertEqual(c.attrs["Name"], "/" + new)
        with self.assertRaises(docker.errors.NotFound):
            self.client.containers.get(old)

    def test_rename_to_taken_name(self):
        a = self.container(["true"], start=False)
        b = self.container(["true"], start=False)
        self.assertAPIError(409, b.rename, a.name)

    def test_pause_unpause(self):
        c = self.sleeper(network_mode="none")
        c.pause()
        c.reload()
        self.assertEqual(c.status, "paused")
        self.assertTrue(c.attrs["State"]["Paused"])
        self.assertTrue(c.attrs["State"]["Running"])
        self.assertAPIError(409, c.exec_run, "true")
        self.assertAPIError(409, c.pause)
        c.unpause()
        c.reload()
        self.assertEqual(c.status, "running")
        self.assertFalse(c.attrs["State"]["Paused"])

    def test_pause_not_running(self):
        c = self.container(["true"], start=False)
        self.assertAPIError(409, c.pause)


class InspectProcessTests(TestCase):

    def settled(self, c):
        """Waits until the container's process has exec'd its command.

        Under load wharf has been seen to answer start while the process was
        still runc's init; these tests are about top, not about that race.
        """
        wait_until(lambda: [p[1] for p in c.top(ps_args="-o pid,comm")["Processes"]] == ["sleep"], 10)

    def test_top(self):
        c = self.sleeper(network_mode="none")
        self.settled(c)
        top = c.top()
        self.assertEqual(top["Titles"], ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"])
        self.assertEqual(len(top["Processes"]), 1)
        self.assertEqual(top["Processes"][0][7], "sleep 1000")
        self.assertEqual(top["Processes"][0][1], str(c.attrs["State"]["Pid"]))

    def test_top_ps_args(self):
        c = self.sleeper(network_mode="none")
        self.settled(c)
        top = c.top(ps_args="-o pid,comm")
        self.assertEqual(top["Titles"], ["PID", "COMMAND"])
        self.assertEqual(top["Processes"], [[str(c.attrs["State"]["Pid"]), "sleep"]])

    def test_top_not_running(self):
        c = self.container(["true"], start=False)
        self.assertAPIError(409, c.top)

    def test_stats_no_stream_shape(self):
        net = self.network()
        c = self.sleeper(network=net.name)
        s = c.stats(stream=False)
        for key in ("read", "preread", "pids_stats", "blkio_stats", "num_procs", "storage_stats",
                    "cpu_stats", "precpu_stats", "memory_stats", "name", "id", "networks"):
            self.assertIn(key, s)
        self.assertEqual(s["name"], "/" + c.name)
        self.assertEqual(s["id"], c.id)
        self.assertEqual(s["pids_stats"]["current"], 1)
        self.assertGreater(s["memory_stats"]["usage"], 0)
        self.assertGreater(s["memory_stats"]["limit"], 0)
        self.assertGreater(s["cpu_stats"]["cpu_usage"]["total_usage"], 0)
        self.assertIsInstance(s["cpu_stats"]["cpu_usage"]["percpu_usage"], list)
        self.assertGreater(s["cpu_stats"]["online_cpus"], 0)
        self.assertEqual(list(s["networks"].keys()), ["eth0"])
        for key in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "rx_errors", "tx_dropped"):
            self.assertIn(key, s["networks"]["eth0"])
        for key in ("io_service_bytes_recursive", "io_serviced_recursive"):
            self.assertIsInstance(s["blkio_stats"][key], list)

    def test_stats_stopped_container(self):
        c = self.container(["true"], start=False)
        s = c.stats(stream=False)
        self.assertEqual(s["read"], "0001-01-01T00:00:00Z")
        self.assertEqual(s["pids_stats"], {})


class ArchiveTests(TestCase):

    def test_put_and_get_archive(self):
        c = self.sleeper(network_mode="none")
        self.assertTrue(c.put_archive("/tmp", tar_of({"hello.txt": b"hi there\n"})))
        self.assertEqual(c.exec_run(["cat", "/tmp/hello.txt"]).output, b"hi there\n")
        chunks, stat = c.get_archive("/tmp/hello.txt")
        self.assertEqual(untar(chunks), {"hello.txt": b"hi there\n"})
        self.assertEqual(stat["name"], "hello.txt")
        self.assertEqual(stat["size"], 9)
        self.assertEqual(stat["mode"] & 0o777, 0o644)
        self.assertEqual(stat["linkTarget"], "")

    def test_get_archive_directory(self):
        c = self.container(["sh", "-c", "mkdir -p /d/sub; echo 1 > /d/a; echo 2 > /d/sub/b"], network_mode="none")
        c.wait()
        chunks, stat = c.get_archive("/d")
        files = untar(chunks)
        self.assertEqual(files["d/a"], b"1\n")
        self.assertEqual(files["d/sub/b"], b"2\n")
        self.assertTrue(stat["mode"] & (1 << 31), "mode %o lacks the directory bit" % stat["mode"])

    def test_get_archive_missing_path(self):
        c = self.container(["true"], start=False)
        with self.assertRaises(docker.errors.NotFound):
            c.get_archive("/no/such/file")

    def test_put_archive_missing_dir(self):
        c = self.container(["true"], start=False)
        with self.assertRaises(docker.errors.NotFound):
            c.put_archive("/no/such/dir", tar_of({"f": b"x"}))

    def test_archive_stopped_container_sees_volume(self):
        v = self.volume()
        c = self.container(["sh", "-c", "echo kept > /data/f"], volumes={v.name: {"bind": "/data", "mode": "rw"}},
                           network_mode="none")
        c.wait()
        chunks, _ = c.get_archive("/data/f")
        self.assertEqual(untar(chunks), {"f": b"kept\n"})
        self.assertTrue(c.put_archive("/data", tar_of({"g": b"new\n"})))
        reader = self.container(["cat", "/data/g"], volumes={v.name: {"bind": "/data", "mode": "rw"}},
                                network_mode="none")
        reader.wait()
        self.assertEqual(reader.logs(), b"new\n")


class ChangesTests(TestCase):

    def test_diff(self):
        c = self.container(["sh", "-c", "mkdir /newdir; touch /newdir/f; rm /etc/group"], network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 0)
        got = sorted((d["Path"], d["Kind"]) for d in c.diff())
        self.assertEqual(got, [("/etc", 0), ("/etc/group", 2), ("/newdir", 1), ("/newdir/f", 1)])

    def test_diff_untouched_container_is_empty(self):
        net = self.network()
        c = self.container(["true"], network=net.name)
        c.wait()
        self.assertIsNone(c.diff())

    def test_export(self):
        c = self.container(["sh", "-c", "echo exported > /root/mark"], network_mode="none")
        c.wait()
        files = untar(c.export())
        self.assertEqual(files["root/mark"], b"exported\n")
        self.assertIn("bin/busybox", files)

    def test_commit(self):
        c = self.container(["sh", "-c", "echo committed > /root/mark"], network_mode="none")
        c.wait()
        repo = self.name("commit")
        img = c.commit(repository=repo, tag="v1", message="a message", author="Someone <s@example.com>",
                       changes=['ENV X=1', 'CMD ["cat", "/root/mark"]', 'LABEL l=v', 'WORKDIR /root'])
        self.remove_image_later(repo + ":v1")
        self.assertEqual(img.tags, [repo + ":v1"])
        a = img.attrs
        self.assertEqual(a["Comment"], "a message")
        self.assertEqual(a["Author"], "Someone <s@example.com>")
        self.assertIn("X=1", a["Config"]["Env"])
        self.assertEqual(a["Config"]["Cmd"], ["cat", "/root/mark"])
        self.assertEqual(a["Config"]["Labels"], {"l": "v"})
        self.assertEqual(a["Config"]["WorkingDir"], "/root")
        self.assertEqual(a["Container"], c.id)
        self.assertEqual(len(a["RootFS"]["Layers"]), 2)
        out = self.client.containers.run(repo + ":v1", name=self.name(), remove=True, network_mode="none")
        self.assertEqual(out, b"committed\n")

    def test_commit_running_container_pauses(self):
        c = self.sleeper(network_mode="none")
        c.exec_run(["sh", "-c", "echo live > /root/live"])
        repo = self.name("live")
        img = c.commit(repository=repo, tag="v1")
        self.remove_image_later(repo + ":v1")
        c.reload()
        self.assertEqual(c.status, "running")
        out = self.client.containers.run(repo + ":v1", ["cat", "/root/live"], name=self.name(), remove=True,
                                         network_mode="none")
        self.assertEqual(out, b"live\n")
        self.assertEqual(img.attrs["Config"]["Cmd"], ["sleep", "1000"])


class UpdateTests(TestCase):

    def test_update_live_container(self):
        c = self.sleeper(network_mode="none")
        res = c.update(mem_limit="64m", memswap_limit="128m", cpu_shares=256, cpu_quota=50000,
                       cpu_period=100000, restart_policy={"Name": "unless-stopped"})
        self.assertIn("Warnings", res)
        c.reload()
        h = c.attrs["HostConfig"]
        self.assertEqual(h["Memory"], 64 << 20)
        self.assertEqual(h["MemorySwap"], 128 << 20)
        self.assertEqual(h["CpuShares"], 256)
        self.assertEqual(h["CpuQuota"], 50000)
        self.assertEqual(h["CpuPeriod"], 100000)
        self.assertEqual(h["RestartPolicy"], {"Name": "unless-stopped", "MaximumRetryCount": 0})
        out = c.exec_run(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]).output
        self.assertEqual(out, b"67108864\n256\n50000\n")

    def test_update_pids_limit_low_level(self):
        c = self.sleeper(network_mode="none")
        res = self.api._result(self.api._post_json(self.api._url("/containers/{0}/update", c.id),
                                                   data={"PidsLimit": 50}), True)
        self.assertIn("Warnings", res)
        c.reload()
        self.assertEqual(c.attrs["HostConfig"]["PidsLimit"], 50)
        self.assertEqual(c.exec_run(["cat", "/sys/fs/cgroup/pids/pids.max"]).output, b"50\n")

    def test_update_stopped_container(self):
        c = self.container(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"], start=False,
                           network_mode="none")
        c.update(mem_limit="32m", memswap_limit="64m")
        c.reload()
        self.assertEqual(c.attrs["HostConfig"]["Memory"], 32 << 20)
        c.start()
        c.wait()
        self.assertEqual(c.logs(), b"33554432\n")

    def test_update_missing(self):
        with self.assertRaises(docker.errors.NotFound):
            self.api.update_container(self.name("gone"), mem_limit="32m")


class PortTests(TestCase):

    def test_published_port_answers(self):
        net = self.network()
        c = self.container(["sh", "-c", "mkdir /www; echo served > /www/index.html; httpd -f -p 8080 -h /www"],
                           network=net.name, ports={"8080/tcp": ("127.0.0.1", None)})
        ports = c.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
        self.assertEqual(len(ports), 1)
        self.assertEqual(ports[0]["HostIp"], "127.0.0.1")
        hp = int(ports[0]["HostPort"])
        self.assertGreater(hp, 0)
        self.assertEqual(c.ports, {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(hp)}]})
        self.assertEqual(c.attrs["HostConfig"]["PortBindings"], {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]})

        def get():
            try:
                return urllib.request.urlopen("http://127.0.0.1:%d/" % hp, timeout=2).read()
            except OSError:
                return None
        self.assertEqual(wait_until(get, 10), b"served\n")
        row = self.api.containers(filters={"id": c.id})[0]
        self.assertEqual(row["Ports"], [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": hp, "Type": "tcp"}])

    def test_port_conflict(self):
        net = self.network()
        a = self.sleeper(network=net.name, ports={"8080/tcp": ("127.0.0.1", None)})
        hp = a.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        b = self.container(["sleep", "1000"], start=False, network=net.name,
                           ports={"8080/tcp": ("127.0.0.1", int(hp))})
        self.assertAPIError(500, b.start)
