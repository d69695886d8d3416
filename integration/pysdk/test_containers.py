"""Containers: create/run kwargs, inspect, list filters, logs, wait, lifecycle."""

import datetime
import os
import socket
import tempfile
import time

import docker.errors

from base import IMAGE, TestCase, wait_until


class RunCreateTests(TestCase):

    def test_run_returns_output(self):
        out = self.client.containers.run(IMAGE, ["echo", "hello"], name=self.name(), remove=True)
        self.assertEqual(out, b"hello\n")

    def test_run_nonzero_raises_container_error(self):
        name = self.name()
        with self.assertRaises(docker.errors.ContainerError) as cm:
            self.client.containers.run(IMAGE, ["sh", "-c", "echo oops >&2; exit 3"], name=name)
        self.addCleanup(self._remove_container, name)
        self.assertEqual(cm.exception.exit_status, 3)
        self.assertEqual(cm.exception.stderr, b"oops\n")

    def test_create_common_kwargs_in_inspect(self):
        c = self.container(
            ["-c", "sleep 1000"], start=False, entrypoint=["/bin/sh"],
            environment={"A": "1", "B": "two words"}, working_dir="/tmp", user="1000:1000",
            labels={"app": "web", "tier": ""}, hostname="h1", tty=True, stdin_open=True,
            stop_signal="SIGUSR1", mem_limit="64m", cpu_shares=512, read_only=True,
            cap_add=["NET_ADMIN"], cap_drop=["MKNOD"], dns=["127.0.0.1"],
            extra_hosts={"db": "127.0.0.2"}, restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
            network_mode="none", shm_size="32m", init=True, ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)])
        a = c.attrs
        self.assertEqual(a["Config"]["Cmd"], ["-c", "sleep 1000"])
        self.assertEqual(a["Config"]["Entrypoint"], ["/bin/sh"])
        self.assertIn("A=1", a["Config"]["Env"])
        self.assertIn("B=two words", a["Config"]["Env"])
        self.assertEqual(a["Config"]["WorkingDir"], "/tmp")
        self.assertEqual(a["Config"]["User"], "1000:1000")
        self.assertEqual(a["Config"]["Labels"], {"app": "web", "tier": ""})
        self.assertEqual(a["Config"]["Hostname"], "h1")
        self.assertTrue(a["Config"]["Tty"])
        self.assertTrue(a["Config"]["OpenStdin"])
        self.assertEqual(a["Config"]["StopSignal"], "SIGUSR1")
        self.assertEqual(a["Config"]["Image"], IMAGE)
        h = a["HostConfig"]
        self.assertEqual(h["Memory"], 64 << 20)
        self.assertEqual(h["CpuShares"], 512)
        self.assertTrue(h["ReadonlyRootfs"])
        self.assertEqual(h["CapAdd"], ["NET_ADMIN"])
        self.assertEqual(h["CapDrop"], ["MKNOD"])
        self.assertEqual(h["Dns"], ["127.0.0.1"])
        self.assertEqual(h["ExtraHosts"], ["db:127.0.0.2"])
        self.assertEqual(h["RestartPolicy"], {"Name": "on-failure", "MaximumRetryCount": 3})
        self.assertEqual(h["NetworkMode"], "none")
        self.assertEqual(h["ShmSize"], 32 << 20)
        self.assertTrue(h["Init"])
        self.assertEqual(h["Ulimits"], [{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        self.assertEqual(a["Name"], "/" + c.name)
        self.assertEqual(a["State"]["Status"], "created")
        self.assertEqual(a["Path"], "/bin/sh")
        self.assertEqual(a["Args"], ["-c", "sleep 1000"])
        self.assertEqual(a["Image"], self.client.images.get(IMAGE).id)

    def test_more_hostconfig_echoed(self):
        c = self.container(["true"], start=False, cpuset_cpus="0", group_add=["1000"], pid_mode="host",
                           uts_mode="host", device_cgroup_rules=["c 1:3 rwm"], network_mode="none")
        h = c.attrs["HostConfig"]
        self.assertEqual(h["CpusetCpus"], "0")
        self.assertEqual(h["GroupAdd"], ["1000"])
        self.assertEqual(h["PidMode"], "host")
        self.assertEqual(h["UTSMode"], "host")
        self.assertEqual(h["DeviceCgroupRules"], ["c 1:3 rwm"])

    def test_group_add_and_host_namespaces_applied(self):
        with open("/proc/1/comm") as f:
            host_init = f.read()
        c = self.container(["sh", "-c", "id -G; hostname; cat /proc/1/comm; cat /sys/fs/cgroup/cpuset/cpuset.cpus"],
                           group_add=["1000"], pid_mode="host", uts_mode="host", cpuset_cpus="0",
                           network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 0)
        self.assertEqual(c.logs().decode(), "0 1000\n%s\n%s0\n" % (socket.gethostname(), host_init))

    def test_kwargs_applied_to_process(self):
        c = self.container(
            ["sh", "-c", "id -u; id -g; pwd; echo $A; hostname; cat /etc/hosts | grep -c db; ulimit -n"],
            environment={"A": "x y"}, working_dir="/tmp", user="1000:1000", hostname="h1",
            extra_hosts={"db": "127.0.0.2"}, network_mode="none",
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)])
        self.assertEqual(c.wait()["StatusCode"], 0)
        self.assertEqual(c.logs(), b"1000\n1000\n/tmp\nx y\nh1\n1\n1024\n")

    def test_image_without_path_gets_default_path(self):
        # The image has no Env: dockerd records none, and gives the process its default PATH.
        c = self.container(["sh", "-c", "echo $PATH"], start=False)
        self.assertIsNone(c.attrs["Config"]["Env"])
        c.start()
        c.wait()
        self.assertEqual(c.logs(), b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")

    def test_read_only_rootfs(self):
        c = self.container(["sh", "-c", "touch /x"], read_only=True, network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 1)
        self.assertIn(b"Read-only file system", c.logs())

    def test_inspect_state_after_exit(self):
        c = self.container(["sh", "-c", "exit 7"], network_mode="none")
        self.assertEqual(c.wait(), {"Error": None, "StatusCode": 7})
        c.reload()
        s = c.attrs["State"]
        self.assertEqual(s["Status"], "exited")
        self.assertEqual(s["ExitCode"], 7)
        self.assertFalse(s["Running"])
        self.assertFalse(s["Paused"])
        self.assertFalse(s["Restarting"])
        self.assertFalse(s["OOMKilled"])
        self.assertFalse(s["Dead"])
        self.assertEqual(s["Pid"], 0)
        self.assertEqual(s["Error"], "")
        self.assertNotEqual(s["FinishedAt"], "0001-01-01T00:00:00Z")
        self.assertEqual(c.status, "exited")

    def test_start_twice_is_not_an_error(self):
        c = self.sleeper(network_mode="none")
        c.start()  # dockerd answers 304 Not Modified
        self.assertEqual(c.status, "running")

    def test_create_name_conflict(self):
        c = self.container(["true"], start=False)
        err = self.assertAPIError(409, self.client.containers.create, IMAGE, ["true"], name=c.name)
        self.assertIn("Conflict", str(err))

    def test_create_missing_image(self):
        with self.assertRaises(docker.errors.ImageNotFound):
            self.client.containers.create("local/nope:404", ["true"], name=self.name())

    def test_create_unknown_restart_policy(self):
        self.assertAPIError(400, self.client.containers.create, IMAGE, ["true"], name=self.name(),
                            restart_policy={"Name": "sometimes"})

    def test_create_unknown_log_driver(self):
        self.assertAPIError(400, self.client.containers.create, IMAGE, ["true"], name=self.name(),
                            log_config=docker.types.LogConfig(type="no-such-driver"))

    def test_log_driver_none(self):
        c = self.container(["echo", "lost"], network_mode="none",
                           log_config=docker.types.LogConfig(type="none"))
        c.wait()
        self.assertEqual(c.attrs["HostConfig"]["LogConfig"], {"Type": "none", "Config": {}})
        self.assertAPIError(501, c.logs)

    def test_auto_remove(self):
        c = self.container(["true"], auto_remove=True, network_mode="none")
        self.assertTrue(wait_until(lambda: not self.api.containers(all=True, filters={"id": c.id}), 10),
                        "auto-remove container still listed")
        with self.assertRaises(docker.errors.NotFound):
            self.client.containers.get(c.id)

    def test_auto_remove_when_start_fails(self):
        c = self.container(["/no/such/binary"], start=False, auto_remove=True, network_mode="none")
        self.assertAPIError(400, c.start)
        self.assertTrue(wait_until(lambda: not self.api.containers(all=True, filters={"id": c.id}), 10),
                        "auto-remove container still listed after a failed start")

    def test_start_missing_binary_exit_127(self):
        c = self.container(["/no/such/binary"], start=False, network_mode="none")
        self.assertAPIError(400, c.start)
        c.reload()
        self.assertEqual(c.attrs["State"]["ExitCode"], 127)
        self.assertEqual(c.status, "created")
        self.assertIn("no such file or directory", c.attrs["State"]["Error"])

    def test_restart_policy_on_failure_counts(self):
        c = self.container(["sh", "-c", "exit 1"], network_mode="none",
                           restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})

        def done():
            c.reload()
            return c.attrs["RestartCount"] == 2 and c.status == "exited"
        self.assertTrue(wait_until(done, 20), "RestartCount %s status %s" % (c.attrs["RestartCount"], c.status))
        self.assertEqual(c.attrs["State"]["ExitCode"], 1)

    def test_tmpfs_mount(self):
        c = self.container(["sh", "-c", "grep ' /run/t ' /proc/mounts"], tmpfs={"/run/t": "size=1m"},
                           network_mode="none")
        self.assertEqual(c.wait()["StatusCode"], 0)
        self.assertIn(b"tmpfs /run/t tmpfs", c.logs())
        self.assertEqual(c.attrs["HostConfig"]["Tmpfs"], {"/run/t": "size=1m"})

    def test_named_volume_mount_inspect(self):
        v = self.volume()
        c = self.container(["true"], start=False, volumes={v.name: {"bind": "/data", "mode": "rw"}})
        m = c.attrs["Mounts"]
        self.assertEqual(len(m), 1)
        self.assertEqual(m[0]["Type"], "volume")
        self.assertEqual(m[0]["Name"], v.name)
        self.assertEqual(m[0]["Destination"], "/data")
        self.assertEqual(m[0]["Driver"], "local")
        self.assertTrue(m[0]["RW"])
        self.assertEqual(m[0]["Mode"], "rw")

    def test_bind_mount_propagation(self):
        # A source that does not hold the daemon's root (dockerd makes those rslave).
        src = tempfile.mkdtemp(prefix="pysdk-bind-")
        self.addCleanup(os.rmdir, src)
        c = self.container(["true"], start=False, volumes={src: {"bind": "/host-dir", "mode": "ro"}})
        m = c.attrs["Mounts"]
        self.assertEqual(len(m), 1)
        self.assertEqual(m[0]["Type"], "bind")
        self.assertEqual(m[0]["Source"], src)
        self.assertFalse(m[0]["RW"])
        self.assertEqual(m[0]["Propagation"], "rprivate")


class ListTests(TestCase):

    def test_list_running_and_all(self):
        run = self.sleeper(network_mode="none")
        made = self.container(["true"], start=False)
        ids = [c.id for c in self.client.containers.list(ignore_removed=True)]
        self.assertIn(run.id, ids)
        self.assertNotIn(made.id, ids)
        ids = [c.id for c in self.client.containers.list(ignore_removed=True, all=True)]
        self.assertIn(made.id, ids)

    def test_list_filter_name_regex(self):
        a = self.container(["true"], start=False, name=self.name("web"))
        b = self.container(["true"], start=False, name=a.name + "x")
        got = [c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"name": "^/" + a.name + "$"})]
        self.assertEqual(got, [a.id])
        got = sorted(c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"name": a.name}))
        self.assertEqual(got, sorted([a.id, b.id]))
        got = [c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"name": a.name + "x$"})]
        self.assertEqual(got, [b.id])

    def test_list_filter_status(self):
        run = self.sleeper(network_mode="none")
        made = self.container(["true"], start=False)
        ex = self.container(["true"], network_mode="none")
        ex.wait()
        paused = self.sleeper(network_mode="none")
        paused.pause()
        mine = {run.id, made.id, ex.id, paused.id}

        def ids(status):
            return {c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"status": status})} & mine
        self.assertEqual(ids("running"), {run.id})
        self.assertEqual(ids("created"), {made.id})
        self.assertEqual(ids("exited"), {ex.id})
        self.assertEqual(ids("paused"), {paused.id})
        self.assertAPIError(400, self.client.containers.list, all=True, filters={"status": "sleeping"})

    def test_list_filter_label(self):
        a = self.container(["true"], start=False, labels={"pysdk.role": "a", "pysdk.x": ""})
        b = self.container(["true"], start=False, labels={"pysdk.role": "b"})

        def ids(label):
            return sorted(c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"label": label}))
        self.assertEqual(ids("pysdk.role"), sorted([a.id, b.id]))
        self.assertEqual(ids("pysdk.role=b"), [b.id])
        self.assertEqual(ids("pysdk.x"), [a.id])
        self.assertEqual(ids(["pysdk.role", "pysdk.x"]), [a.id])

    def test_list_filter_ancestor(self):
        img = self.client.images.get(IMAGE)
        repo = self.name("img")
        img.tag(repo, "v1")
        self.remove_image_later(repo + ":v1")
        a = self.container(["true"], start=False, image=repo + ":v1")
        got = [c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"ancestor": repo + ":v1"})]
        self.assertEqual(got, [a.id])
        got = [c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"ancestor": img.id})]
        self.assertIn(a.id, got)

    def test_list_filter_exited_code(self):
        a = self.container(["sh", "-c", "exit 3"], network_mode="none")
        b = self.container(["true"], network_mode="none")
        a.wait()
        b.wait()
        got = {c.id for c in self.client.containers.list(ignore_removed=True, all=True, filters={"exited": 3})}
        self.assertIn(a.id, got)
        self.assertNotIn(b.id, got)

    def test_list_low_level_shape(self):
        c = self.sleeper(network_mode="none", labels={"k": "v"})
        rows = self.api.containers(filters={"id": c.id})
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual(r["Id"], c.id)
        self.assertEqual(r["Names"], ["/" + c.name])
        self.assertEqual(r["Image"], IMAGE)
        self.assertEqual(r["Command"], "sleep 1000")
        self.assertEqual(r["State"], "running")
        self.assertTrue(r["Status"].startswith("Up "), r["Status"])
        self.assertEqual(r["Labels"], {"k": "v"})
        self.assertEqual(r["HostConfig"], {"NetworkMode": "none"})
        self.assertEqual(r["Ports"], [])


class LogsTests(TestCase):

    def test_logs_stdout_stderr(self):
        c = self.container(["sh", "-c", "echo out; echo err >&2"], network_mode="none")
        c.wait()
        self.assertEqual(c.logs(stdout=True, stderr=False), b"out\n")
        self.assertEqual(c.logs(stdout=False, stderr=True), b"err\n")
        self.assertEqual(sorted(c.logs().splitlines()), [b"err", b"out"])

    def test_logs_timestamps(self):
        c = self.container(["sh", "-c", "echo a; echo b"], network_mode="none")
        c.wait()
        lines = c.logs(timestamps=True).decode().splitlines()
        self.assertEqual(len(lines), 2)
        for line, want in zip(lines, ["a", "b"]):
            ts, _, text = line.partition(" ")
            self.assertEqual(text, want)
            self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")

    def test_logs_tail(self):
        c = self.container(["seq", "1", "10"], network_mode="none")
        c.wait()
        self.assertEqual(c.logs(tail=3), b"8\n9\n10\n")
        self.assertEqual(c.logs(tail=0), b"")

    def test_logs_since_until(self):
        c = self.container(["sh", "-c", "echo early; sleep 2; echo late"], network_mode="none")
        c.wait()
        lines = c.logs(timestamps=True).decode().splitlines()
        late_ts = lines[1].split(" ")[0]
        late = datetime.datetime.strptime(late_ts[:26], "%Y-%m-%dT%H:%M:%S.%f")
        cut = late - datetime.timedelta(seconds=1)
        self.assertEqual(c.logs(since=cut), b"late\n")
        self.assertEqual(c.logs(until=cut), b"early\n")

    def test_logs_follow_stream(self):
        c = self.container(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"], network_mode="none")
        got = b"".join(c.logs(stream=True, follow=True))
        self.assertEqual(got, b"1\n2\n3\n")

    def test_logs_tty(self):
        c = self.container(["sh", "-c", "echo out; echo err >&2"], tty=True, network_mode="none")
        c.wait()
        self.assertEqual(c.logs(), b"out\r\nerr\r\n")


class WaitTests(TestCase):

    def test_wait_not_running(self):
        c = self.container(["sh", "-c", "sleep 0.3; exit 5"], network_mode="none")
        self.assertEqual(c.wait(condition="not-running")["StatusCode"], 5)
        self.assertEqual(c.wait(condition="not-running")["StatusCode"], 5)

    def test_wait_next_exit(self):
        c = self.sleeper(network_mode="none")
        res = {}
        import threading
        t = threading.Thread(target=lambda: res.update(c.wait(condition="next-exit")))
        t.start()
        time.sleep(0.5)
        c.kill()
        t.join(15)
        self.assertEqual(res.get("StatusCode"), 137)

    def test_wait_removed(self):
        c = self.container(["sh", "-c", "sleep 0.5"], auto_remove=True, network_mode="none")
        self.assertEqual(c.wait(condition="removed")["StatusCode"], 0)
        with self.assertRaises(docker.errors.NotFound):
            c.reload()
