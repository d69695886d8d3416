"""Images: list, get, tag, remove, history, save/load, import, prune, errors."""

import io
import json
import tarfile

import docker.errors

from base import IMAGE, TestCase, tar_of


class ImageTests(TestCase):

    def tagged(self, tag="v1"):
        """IMAGE tagged as a new repository, untagged afterwards."""
        repo = self.name("img")
        self.assertTrue(self.client.images.get(IMAGE).tag(repo, tag))
        self.remove_image_later(repo + ":" + tag)
        return repo + ":" + tag

    def test_get_shape(self):
        img = self.client.images.get(IMAGE)
        a = img.attrs
        self.assertRegex(a["Id"], r"^sha256:[0-9a-f]{64}$")
        self.assertIn(IMAGE, a["RepoTags"])
        self.assertEqual(a["RepoDigests"], [])
        self.assertEqual(a["Os"], "linux")
        self.assertEqual(a["Architecture"], "amd64")
        self.assertGreater(a["Size"], 0)
        self.assertEqual(a["RootFS"]["Type"], "layers")
        self.assertEqual(len(a["RootFS"]["Layers"]), 1)
        self.assertEqual(a["GraphDriver"]["Name"], "overlay2")

    def test_list_and_filters(self):
        ref = self.tagged()
        repo = ref.split(":")[0]
        ids = {i.id for i in self.client.images.list()}
        self.assertIn(self.client.images.get(IMAGE).id, ids)
        got = self.client.images.list(name=repo)
        self.assertEqual(len(got), 1)
        self.assertEqual(sorted(got[0].tags), sorted([IMAGE, ref]))
        got = self.client.images.list(filters={"reference": repo + ":*"})
        self.assertEqual(len(got), 1)
        self.assertEqual(self.client.images.list(name=self.name("none")), [])
        rows = self.api.images(name=repo)
        self.assertEqual(len(rows), 1)
        for key in ("Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize", "Labels",
                    "Containers"):
            self.assertIn(key, rows[0])

    def test_list_filter_dangling_and_label(self):
        c = self.container(["true"], network_mode="none")
        c.wait()
        dangling = c.commit(changes=["LABEL pysdk.dangling=yes"])
        self.remove_image_later(dangling.id)
        got = [i.id for i in self.client.images.list(filters={"dangling": True})]
        self.assertIn(dangling.id, got)
        got = [i.id for i in self.client.images.list(filters={"label": "pysdk.dangling=yes"})]
        self.assertEqual(got, [dangling.id])
        self.assertEqual(self.api.images(filters={"label": "pysdk.dangling"})[0]["RepoTags"], ["<none>:<none>"])

    def test_tag_and_untag(self):
        ref = self.tagged()
        base = self.client.images.get(IMAGE)
        self.assertEqual(self.client.images.get(ref).id, base.id)
        self.client.images.remove(ref)
        self.assertEqual(self.client.images.get(IMAGE).id, base.id)
        with self.assertRaises(docker.errors.ImageNotFound):
            self.client.images.get(ref)

    def test_remove_reports_untagged(self):
        ref = self.tagged()
        res = self.api.remove_image(ref)
        self.assertEqual(res, [{"Untagged": ref}])

    def test_remove_missing(self):
        with self.assertRaises(docker.errors.ImageNotFound):
            self.client.images.remove("local/nope:404")

    def test_remove_in_use_conflict(self):
        ref = self.tagged()
        # A second tag keeps the image when ref is untagged: remove by ID.
        c = self.container(["true"], start=False, image=ref)
        img = self.client.images.get(ref)
        self.assertAPIError(409, self.client.images.remove, img.id)
        self.assertEqual(c.image.id, img.id)

    def test_history(self):
        h = self.client.images.get(IMAGE).history()
        self.assertEqual(len(h), 1)
        self.assertEqual(set(h[0].keys()), {"Id", "Created", "CreatedBy", "Tags", "Size", "Comment"})
        self.assertEqual(h[0]["Tags"], [IMAGE])
        self.assertEqual(h[0]["Id"], self.client.images.get(IMAGE).id)
        self.assertGreater(h[0]["Size"], 0)

    def test_history_of_commit(self):
        c = self.container(["sh", "-c", "echo x > /f"], network_mode="none")
        c.wait()
        repo = self.name("hist")
        img = c.commit(repository=repo, tag="v1", message="msg")
        self.remove_image_later(repo + ":v1")
        h = img.history()
        self.assertEqual(len(h), 2)
        self.assertEqual(h[0]["Id"], img.id)
        self.assertEqual(h[0]["Comment"], "msg")
        self.assertEqual(h[0]["Tags"], [repo + ":v1"])
        self.assertEqual(h[1]["Id"], self.client.images.get(IMAGE).id)

    def test_save_and_load(self):
        ref = self.tagged()
        img = self.client.images.get(ref)
        data = b"".join(img.save(named=ref))
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            names = tf.getnames()
            manifest = json.load(tf.extractfile("manifest.json"))
        self.assertIn("manifest.json", names)
        self.assertEqual(manifest[0]["RepoTags"], [ref])
        self.client.images.remove(ref)
        loaded = self.client.images.load(data)
        self.assertEqual([i.id for i in loaded], [img.id])
        self.assertIn(ref, loaded[0].tags)

    def test_load_stream_shape(self):
        ref = self.tagged()
        data = b"".join(self.client.images.get(ref).save(named=ref))
        self.client.images.remove(ref)
        chunks = list(self.api.load_image(data))
        self.assertEqual(chunks, [{"stream": "Loaded image: %s\n" % ref}])

    def test_load_bad_input(self):
        with self.assertRaises(docker.errors.ImageLoadError):
            self.client.images.load(b"this is not a tar archive")

    def test_import_with_changes_and_message(self):
        repo = self.name("imp")
        rootfs = b"".join(self.client.images.get(IMAGE).save())
        # The layer of the saved image is a root filesystem tar.
        with tarfile.open(fileobj=io.BytesIO(rootfs)) as tf:
            manifest = json.load(tf.extractfile("manifest.json"))
            layer = tf.extractfile(manifest[0]["Layers"][0]).read()
        res = self.api._post(self.api._url("/images/create"), data=layer,
                             params={"fromSrc": "-", "repo": repo, "tag": "v1", "message": "imported here",
                                     "changes": ['CMD ["echo", "imp"]', "ENV Z=9"]},
                             headers={"Content-Type": "application/tar"})
        self.api._raise_for_status(res)
        self.remove_image_later(repo + ":v1")
        status = [json.loads(line) for line in res.text.splitlines() if line.strip()]
        self.assertRegex(status[-1]["status"], r"^sha256:[0-9a-f]{64}$")
        img = self.client.images.get(repo + ":v1")
        self.assertEqual(img.id, status[-1]["status"])
        self.assertEqual(img.attrs["Comment"], "imported here")
        self.assertEqual(img.attrs["Config"]["Cmd"], ["echo", "imp"])
        self.assertEqual(img.attrs["Config"]["Env"], ["Z=9"])
        self.assertEqual(img.history()[0]["Comment"], "imported here")
        out = self.client.containers.run(repo + ":v1", name=self.name(), remove=True, network_mode="none")
        self.assertEqual(out, b"imp\n")

    def test_import_default_comment(self):
        repo = self.name("imp")
        self.api.import_image_from_data(tar_of({"f": b"x"}), repository=repo, tag="v1")
        self.remove_image_later(repo + ":v1")
        self.assertEqual(self.client.images.get(repo + ":v1").attrs["Comment"], "Imported from -")

    def test_prune_dangling_reports_space(self):
        c = self.container(["sh", "-c", "head -c 204800 /dev/zero > /blob"], network_mode="none")
        c.wait()
        img = c.commit()
        c.remove()
        res = self.client.images.prune(filters={"dangling": True})
        self.assertIn({"Deleted": img.id}, res["ImagesDeleted"])
        self.assertGreaterEqual(res["SpaceReclaimed"], 204800)
        with self.assertRaises(docker.errors.ImageNotFound):
            self.client.images.get(img.id)

    def test_prune_nothing(self):
        self.client.images.prune(filters={"dangling": True})
        self.assertEqual(self.client.images.prune(filters={"dangling": True}),
                         {"ImagesDeleted": None, "SpaceReclaimed": 0})

    def test_get_missing(self):
        with self.assertRaises(docker.errors.ImageNotFound) as cm:
            self.client.images.get("local/nope:404")
        self.assertEqual(cm.exception.response.status_code, 404)
        with self.assertRaises(docker.errors.ImageNotFound):
            self.client.images.get("sha256:" + "0" * 64)

    def test_tag_missing(self):
        with self.assertRaises(docker.errors.ImageNotFound):
            self.api.tag("local/nope:404", self.name("x"), "v1")
