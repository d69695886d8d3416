"""Healthchecks: Config.Healthcheck, State.Health, the health filter, transitions, image HEALTHCHECK."""

from base import IMAGE, TestCase, wait_until

MS = 1000000  # nanoseconds


def health(test, interval=200, timeout=2000, retries=2, start_period=0):
    return {"test": test, "interval": interval * MS, "timeout": timeout * MS, "retries": retries,
            "start_period": start_period * MS}


class HealthTests(TestCase):

    def health_status(self, c):
        c.reload()
        return (c.attrs["State"].get("Health") or {}).get("Status")

    def wait_health(self, c, want, timeout=15):
        ok = wait_until(lambda: self.health_status(c) == want, timeout)
        self.assertTrue(ok, "%s: health %r, want %r: %r" % (c.name, self.health_status(c), want,
                                                              c.attrs["State"].get("Health")))

    def test_config_healthcheck_echoed(self):
        c = self.container(["sleep", "1000"], start=False,
                           healthcheck=health(["CMD-SHELL", "exit 0"], interval=250, timeout=1500, retries=4,
                                              start_period=500))
        self.assertEqual(c.attrs["Config"]["Healthcheck"], {
            "Test": ["CMD-SHELL", "exit 0"], "Interval": 250 * MS, "Timeout": 1500 * MS,
            "Retries": 4, "StartPeriod": 500 * MS})
        self.assertNotIn("Health", c.attrs["State"])

    def test_healthy(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD-SHELL", "echo checked; exit 0"]))
        self.assertEqual(c.attrs["State"]["Health"]["Status"], "starting")
        self.wait_health(c, "healthy")
        h = c.attrs["State"]["Health"]
        self.assertEqual(h["FailingStreak"], 0)
        self.assertGreaterEqual(len(h["Log"]), 1)
        entry = h["Log"][-1]
        self.assertEqual(set(entry.keys()), {"Start", "End", "ExitCode", "Output"})
        self.assertEqual(entry["ExitCode"], 0)
        self.assertEqual(entry["Output"], "checked\n")

    def test_unhealthy(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD", "sh", "-c", "echo bad; exit 3"], retries=2))
        self.wait_health(c, "unhealthy")
        h = c.attrs["State"]["Health"]
        self.assertGreaterEqual(h["FailingStreak"], 2)
        self.assertEqual(h["Log"][-1]["ExitCode"], 3)
        self.assertEqual(h["Log"][-1]["Output"], "bad\n")

    def test_log_keeps_last_five(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD-SHELL", "true"], interval=100))
        ok = wait_until(lambda: (c.reload(), len(c.attrs["State"]["Health"]["Log"]) == 5)[1], 15)
        self.assertTrue(ok)
        wait_until(lambda: False, 0.5)
        c.reload()
        self.assertEqual(len(c.attrs["State"]["Health"]["Log"]), 5)

    def test_timeout_counts_as_failure(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD", "sleep", "5"], timeout=200, retries=1))
        self.wait_health(c, "unhealthy")
        entry = c.attrs["State"]["Health"]["Log"][-1]
        self.assertEqual(entry["ExitCode"], -1)
        self.assertIn("Health check exceeded timeout", entry["Output"])

    def test_transition_unhealthy_to_healthy(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD", "test", "-f", "/tmp/ok"], retries=1))
        self.wait_health(c, "unhealthy")
        c.exec_run(["touch", "/tmp/ok"])
        self.wait_health(c, "healthy")
        self.assertEqual(c.attrs["State"]["Health"]["FailingStreak"], 0)

    def test_health_filter_and_status_text(self):
        good = self.sleeper(network_mode="none", healthcheck=health(["CMD", "true"]))
        bad = self.sleeper(network_mode="none", healthcheck=health(["CMD", "false"], retries=1))
        none = self.sleeper(network_mode="none")
        self.wait_health(good, "healthy")
        self.wait_health(bad, "unhealthy")
        mine = {good.id, bad.id, none.id}

        def ids(h):
            return {c.id for c in self.client.containers.list(ignore_removed=True, filters={"health": h})} & mine
        self.assertEqual(ids("healthy"), {good.id})
        self.assertEqual(ids("unhealthy"), {bad.id})
        self.assertEqual(ids("none"), {none.id})
        self.assertAPIError(400, self.client.containers.list, filters={"health": "great"})
        row = self.api.containers(filters={"id": good.id})[0]
        self.assertTrue(row["Status"].endswith("(healthy)"), row["Status"])
        row = self.api.containers(filters={"id": bad.id})[0]
        self.assertTrue(row["Status"].endswith("(unhealthy)"), row["Status"])

    def test_image_healthcheck(self):
        c = self.container(["true"], network_mode="none")
        c.wait()
        repo = self.name("hc")
        c.commit(repository=repo, tag="v1",
                 changes=['HEALTHCHECK --interval=200ms --timeout=1s --retries=2 CMD echo from-image'])
        self.remove_image_later(repo + ":v1")
        img = self.client.images.get(repo + ":v1")
        self.assertEqual(img.attrs["Config"]["Healthcheck"], {
            "Test": ["CMD-SHELL", "echo from-image"], "Interval": 200 * MS, "Timeout": 1000 * MS, "Retries": 2})
        r = self.sleeper(image=repo + ":v1", network_mode="none")
        self.wait_health(r, "healthy")
        self.assertEqual(r.attrs["State"]["Health"]["Log"][-1]["Output"], "from-image\n")

    def test_healthcheck_none_disables_image_check(self):
        c = self.container(["true"], network_mode="none")
        c.wait()
        repo = self.name("hc")
        c.commit(repository=repo, tag="v1", changes=['HEALTHCHECK --interval=200ms CMD true'])
        self.remove_image_later(repo + ":v1")
        r = self.sleeper(image=repo + ":v1", network_mode="none", healthcheck={"test": ["NONE"]})
        # The unset fields are merged from the image's check.
        self.assertEqual(r.attrs["Config"]["Healthcheck"], {"Test": ["NONE"], "Interval": 200 * MS})
        wait_until(lambda: False, 0.6)
        r.reload()
        self.assertNotIn("Health", r.attrs["State"])

    def test_health_stops_with_container(self):
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD", "true"]))
        self.wait_health(c, "healthy")
        c.stop(timeout=0)
        c.reload()
        self.assertEqual(c.attrs["State"]["Health"]["Status"], "unhealthy")

    def test_invalid_interval(self):
        self.assertAPIError(400, self.client.containers.create, IMAGE, ["true"], name=self.name(),
                            healthcheck={"test": ["CMD", "true"], "interval": 1000})

    def test_exec_health_not_listed(self):
        # Health checks run as execs, but dockerd does not list them among the container's ExecIDs.
        c = self.sleeper(network_mode="none", healthcheck=health(["CMD", "true"]))
        self.wait_health(c, "healthy")
        self.assertIsNone(c.attrs["ExecIDs"])
