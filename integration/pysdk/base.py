"""Shared set-up of the Docker SDK for Python suite.

The suite encodes what dockerd answers: every test passes against a real
dockerd (the Go test TestPythonSDK runs it there too when dockerd is
installed), so a failure against wharf is a difference from Docker, never
an opinion of the test. Tests must not branch on the daemon they talk to.

The environment, set by the Go test (or by hand):
  DOCKER_HOST      the daemon's socket, unix:///...
  PYSDK_IMAGE      a busybox image the daemon has (no test pulls)
  PYSDK_PREFIX     a prefix for every name a test creates
  PYSDK_SUBNETS    space-separated free /24 subnets for networks with IPAM
  PYSDK_API        the API version spoken (default 1.41, dockerd 20.10's)
"""

import io
import itertools
import json
import os
import socket
import struct
import tarfile
import time
import unittest
import urllib.parse

import docker
import docker.errors

IMAGE = os.environ.get("PYSDK_IMAGE", "local/busybox:1")
PREFIX = os.environ.get("PYSDK_PREFIX", "pysdk")
SUBNETS = os.environ.get("PYSDK_SUBNETS", "").split()
API_VERSION = os.environ.get("PYSDK_API", "1.41")

_names = itertools.count(1)
_subnets = itertools.cycle(SUBNETS or ["10.249.0.0/24"])


def new_client():
    """A client on DOCKER_HOST speaking API_VERSION, the same on both daemons."""
    return docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version=API_VERSION, timeout=60)


def wait_until(cond, timeout=10.0, interval=0.05):
    """Polls cond until it returns a true value or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(interval)


def tar_of(files):
    """An uncompressed tar (bytes) holding files, a {name: bytes} dict."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar(chunks):
    """{name: bytes or None for non-files} of a tar given as an iterable of chunks."""
    data = b"".join(chunks)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tf:
        for m in tf.getmembers():
            f = tf.extractfile(m) if m.isfile() else None
            out[m.name] = f.read() if f else None
    return out


def frames(data):
    """Decodes Docker's multiplexed stream into [(stream, payload)], merging runs of one stream."""
    out = []
    while len(data) >= 8:
        kind, size = struct.unpack(">BxxxL", data[:8])
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + data[8:8 + size])
        else:
            out.append((kind, data[8:8 + size]))
        data = data[8 + size:]
    return out


class Hijacked:
    """A hijacked attach or exec-start connection, spoken on the raw socket.

    The SDK's own socket helpers hand back the socket under http.client's
    buffered reader, which may already hold the first bytes the daemon sent
    after its headers; tests that look at those bytes use this instead.
    """

    def __init__(self, method, path, params=None, body=None):
        sock_path = urllib.parse.urlparse(os.environ["DOCKER_HOST"]).path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(sock_path)
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        data = json.dumps(body).encode() if body is not None else b""
        head = "%s /v%s%s%s HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" % (
            method, API_VERSION, path, query)
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        self.sock.sendall(head.encode() + b"\r\n" + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        header, _, self.pending = buf.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def send(self, data):
        self.sock.sendall(data)

    def close_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def read_until(self, want, timeout=10):
        """Reads until the bytes want arrived (or EOF, or timeout); returns all read so far."""
        deadline = time.monotonic() + timeout
        while want not in self.pending and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            self.pending += chunk
        return self.pending

    def read_to_eof(self, timeout=10):
        """Reads until the daemon closes; returns (everything read, whether EOF came in time)."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return self.pending, False
            if not chunk:
                return self.pending, True
            self.pending += chunk

    def close(self):
        self.sock.close()


class TestCase(unittest.TestCase):
    """Base class: a client per class, unique names, resources removed after each test."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.client = new_client()
        cls.api = cls.client.api

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def name(self, what=""):
        """A name no other test uses (also valid as a repository name)."""
        base = "%s-%s-%d" % (PREFIX, self._testMethodName[5:25].replace("_", "-"), next(_names))
        return (base + ("-" + what if what else "")).lower()

    def subnet(self):
        """A free /24 from PYSDK_SUBNETS, as (subnet, gateway, a host address)."""
        s = next(_subnets)
        base = s.rsplit(".", 1)[0]
        return s, base + ".1", base + ".10"

    # Resources, each removed when the test ends.

    def container(self, command=None, image=IMAGE, start=True, **kwargs):
        """Creates (and starts unless start=False) a container, removed afterwards."""
        kwargs.setdefault("name", self.name())
        c = self.client.containers.create(image, command, **kwargs)
        self.addCleanup(self._remove_container, c.id)
        if start:
            c.start()
            try:
                c.reload()
            except docker.errors.NotFound:
                pass  # an auto-remove container that is done already
        return c

    def sleeper(self, **kwargs):
        """A running container that does nothing for a long time."""
        return self.container(["sleep", "1000"], **kwargs)

    def _remove_container(self, cid):
        try:
            self.api.remove_container(cid, force=True, v=True)
        except docker.errors.NotFound:
            pass

    def network(self, auto_ipam=True, **kwargs):
        """Creates a bridge network (on a free subnet unless given ipam or auto_ipam=False), removed afterwards."""
        if auto_ipam and "ipam" not in kwargs:
            subnet, gateway, _ = self.subnet()
            kwargs["ipam"] = docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=subnet, gateway=gateway)])
        n = self.client.networks.create(kwargs.pop("name", None) or self.name("net"), **kwargs)
        self.addCleanup(self._remove_network, n.id)
        return n

    def _remove_network(self, nid):
        try:
            n = self.client.networks.get(nid)
            # Endpoints left by removed containers are deleted by name.
            for cid, ep in (n.attrs.get("Containers") or {}).items():
                for ref in (cid, ep.get("Name")):
                    try:
                        n.disconnect(ref, force=True)
                        break
                    except docker.errors.APIError:
                        pass
            n.remove()
        except docker.errors.NotFound:
            pass

    def hijack(self, method, path, params=None, body=None):
        """A Hijacked connection, closed after the test."""
        h = Hijacked(method, path, params, body)
        self.addCleanup(h.close)
        self.assertIn(h.status, (101, 200), "%s %s answered %d" % (method, path, h.status))
        return h

    def volume(self, **kwargs):
        """Creates a volume, removed afterwards."""
        v = self.client.volumes.create(kwargs.pop("name", None) or self.name("vol"), **kwargs)
        self.addCleanup(self._remove_volume, v.name)
        return v

    def _remove_volume(self, name):
        try:
            self.api.remove_volume(name, force=True)
        except docker.errors.NotFound:
            pass

    def remove_image_later(self, ref):
        self.addCleanup(self._remove_image, ref)

    def _remove_image(self, ref):
        try:
            self.api.remove_image(ref, force=True)
        except docker.errors.NotFound:
            pass

    # Assertions.

    def assertAPIError(self, status, fn, *args, **kwargs):
        """fn(*args, **kwargs) raises APIError with HTTP status; returns the error."""
        with self.assertRaises(docker.errors.APIError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.response.status_code, status, str(cm.exception))
        return cm.exception

    def wait_logs(self, c, text, timeout=10):
        """Waits until the container's logs hold text (bytes)."""
        ok = wait_until(lambda: text in c.logs(), timeout)
        self.assertTrue(ok, "logs of %s never held %r: %r" % (c.name, text, c.logs()))

    def wait_status(self, c, status, timeout=10):
        def check():
            c.reload()
            return c.status == status
        self.assertTrue(wait_until(check, timeout), "%s: status %r, want %r" % (c.name, c.status, status))
