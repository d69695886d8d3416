"""Events: the actions a run produces, their shape, filters, since/until replay."""

import threading
import time

from base import IMAGE, TestCase, wait_until


class EventTests(TestCase):

    def events(self, since, **filters):
        """The events since `since` up to now (a replay: the stream ends at until)."""
        until = time.time() + 0.5
        time.sleep(0.6)
        return list(self.client.events(since=int(since) - 1, until=until, decode=True, filters=filters or None))

    def test_run_actions(self):
        t0 = time.time()
        c = self.container(["sh", "-c", "exit 3"], network_mode="none")
        c.wait()
        c.remove()
        evs = self.events(t0, container=c.id)
        self.assertEqual([e["Action"] for e in evs], ["create", "start", "die", "destroy"])
        for e in evs:
            self.assertEqual(e["Type"], "container")
            self.assertEqual(e["Actor"]["ID"], c.id)
            self.assertEqual(e["Actor"]["Attributes"]["name"], c.name)
            self.assertEqual(e["Actor"]["Attributes"]["image"], IMAGE)
            self.assertEqual(e["id"], c.id)
            self.assertEqual(e["status"], e["Action"])
            self.assertEqual(e["from"], IMAGE)
            self.assertEqual(e["scope"], "local")
            self.assertIsInstance(e["time"], int)
            self.assertEqual(e["time"], e["timeNano"] // 10**9)
        self.assertEqual(evs[2]["Actor"]["Attributes"]["exitCode"], "3")

    def test_labels_in_attributes(self):
        t0 = time.time()
        c = self.container(["true"], start=False, labels={"pysdk.ev": "x"})
        evs = self.events(t0, container=c.id)
        self.assertEqual(evs[0]["Action"], "create")
        self.assertEqual(evs[0]["Actor"]["Attributes"]["pysdk.ev"], "x")

    def test_kill_stop_actions(self):
        t0 = time.time()
        c = self.sleeper(network_mode="none")
        c.kill(signal="SIGKILL")
        c.start()
        c.stop(timeout=0)
        evs = self.events(t0, container=c.id)
        actions = [e["Action"] for e in evs]
        # stop -t 0: the stop signal, then SIGKILL at once.
        self.assertEqual(actions, ["create", "start", "kill", "die", "start", "kill", "kill", "die", "stop"])
        self.assertEqual(evs[2]["Actor"]["Attributes"]["signal"], "9")
        self.assertEqual(evs[3]["Actor"]["Attributes"]["exitCode"], "137")
        self.assertEqual(evs[5]["Actor"]["Attributes"]["signal"], "15")
        self.assertEqual(evs[6]["Actor"]["Attributes"]["signal"], "9")
        self.assertEqual(evs[7]["Actor"]["Attributes"]["exitCode"], "137")

    def test_pause_rename_exec_actions(self):
        t0 = time.time()
        c = self.sleeper(network_mode="none")
        c.pause()
        c.unpause()
        old = c.name
        c.rename(old + "-new")
        c.exec_run(["true"])
        evs = self.events(t0, container=c.id)
        actions = [e["Action"] for e in evs]
        self.assertEqual(actions[:5], ["create", "start", "pause", "unpause", "rename"])
        self.assertEqual(evs[4]["Actor"]["Attributes"]["oldName"], "/" + old)
        self.assertEqual(evs[4]["Actor"]["Attributes"]["name"], old + "-new")
        self.assertEqual(actions[5:], ["exec_create: true ", "exec_start: true ", "exec_die"])
        self.assertEqual(evs[7]["Actor"]["Attributes"]["exitCode"], "0")

    def test_health_status_event(self):
        t0 = time.time()
        c = self.sleeper(network_mode="none", healthcheck={"test": ["CMD", "true"], "interval": 200 * 10**6})
        wait_until(lambda: (c.reload(), c.attrs["State"]["Health"]["Status"] == "healthy")[1], 15)
        evs = self.events(t0, container=c.id, event="health_status")
        self.assertGreaterEqual(len(evs), 1)
        self.assertEqual(evs[0]["Action"], "health_status: healthy")

    def test_network_and_volume_events(self):
        t0 = time.time()
        n = self.network()
        v = self.volume()
        c = self.container(["true"], network=n.name, volumes={v.name: {"bind": "/data"}})
        c.wait()
        c.remove()
        n.remove()
        v.remove()
        nev = self.events(t0, type="network", network=n.id)
        self.assertEqual([e["Action"] for e in nev], ["create", "connect", "disconnect", "destroy"])
        self.assertEqual(nev[1]["Actor"]["Attributes"]["container"], c.id)
        self.assertEqual(nev[0]["Actor"]["Attributes"]["name"], n.name)
        self.assertEqual(nev[0]["Actor"]["Attributes"]["type"], "bridge")
        vev = self.events(t0, type="volume", volume=v.name)
        # The container's create names the volume again: dockerd reports a second create.
        self.assertEqual([e["Action"] for e in vev], ["create", "create", "mount", "unmount", "destroy"])
        self.assertEqual(vev[0]["Actor"]["ID"], v.name)
        self.assertEqual(vev[0]["Actor"]["Attributes"]["driver"], "local")
        self.assertEqual(vev[2]["Actor"]["Attributes"]["container"], c.id)
        self.assertEqual(vev[2]["Actor"]["Attributes"]["destination"], "/data")

    def test_image_events(self):
        t0 = time.time()
        img = self.client.images.get(IMAGE)
        repo = self.name("evimg")
        img.tag(repo, "v1")
        self.client.images.remove(repo + ":v1")
        evs = self.events(t0, type="image", image=img.id)
        self.assertEqual([e["Action"] for e in evs], ["tag", "untag"])
        self.assertEqual(evs[0]["Actor"]["ID"], img.id)
        self.assertEqual(evs[0]["Actor"]["Attributes"]["name"], repo + ":v1")

    def test_type_and_label_filters(self):
        t0 = time.time()
        a = self.container(["true"], start=False, labels={"pysdk.pick": "yes"})
        self.container(["true"], start=False)
        self.volume()
        evs = self.events(t0, type="container", label="pysdk.pick=yes")
        self.assertEqual([(e["Action"], e["id"]) for e in evs], [("create", a.id)])

    def test_until_in_the_past_ends_at_once(self):
        t0 = time.time()
        c = self.container(["true"], start=False)
        time.sleep(1.1)
        start = time.monotonic()
        before = list(self.client.events(since=int(t0) - 5, until=int(t0) - 1, decode=True,
                                         filters={"container": c.id}))
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(before, [])
        after = list(self.client.events(since=int(t0) - 1, until=int(time.time()), decode=True,
                                        filters={"container": c.id}))
        self.assertEqual([e["Action"] for e in after], ["create"])

    def test_live_stream(self):
        got = []
        stream = self.client.events(decode=True, filters={"type": "container", "event": "create"})
        self.addCleanup(stream.close)

        def reader():
            for e in stream:
                got.append(e)
                return
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        time.sleep(0.5)
        c = self.container(["true"], start=False)
        t.join(10)
        self.assertEqual([(e["Action"], e["id"]) for e in got], [("create", c.id)])
