"""Where uploaded files live: a folder (default) or an S3-compatible bucket.

Both backends offer the same three calls, with opaque keys made by chat:
``save(key, fileobj)``, ``open(key)`` (a seekable binary file, so Werkzeug can
answer Range requests from it) and ``delete(key)`` (missing keys are fine).

``CHAT_UPLOAD_STORAGE`` picks one: unset, a folder ``chat-uploads`` in the
app's instance folder; a path, that folder; ``s3://bucket/prefix``, that
bucket through boto3 (``CHAT_UPLOAD_S3`` holds extra client options such as
``endpoint_url`` and ``region_name``; credentials come from boto3's usual
places); or any object with those three methods.
"""
import io
import os
import re
import tempfile
from urllib.parse import urlsplit

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _check_key(key):
    if not _KEY.match(key) or key.startswith("."):
        raise ValueError(f"bad storage key {key!r}")
    return key


class LocalStorage:
    """Files in a folder, fanned out by the key's first two characters.

    Writes go to a temporary file in the same folder and are renamed into
    place, so processes sharing the folder (one volume) never see half a file.
    """

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def path(self, key):
        _check_key(key)
        return os.path.join(self.root, key[:2], key)

    def save(self, key, fileobj):
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                fileobj.seek(0)
                while True:
                    chunk = fileobj.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def open(self, key):
        return open(self.path(key), "rb")

    def delete(self, key):
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    def __repr__(self):
        return f"LocalStorage({self.root!r})"


class S3Storage:
    """Objects in an S3-compatible bucket, under an optional key prefix."""

    def __init__(self, bucket, prefix="", **client_options):
        import boto3  # the `s3` extra: only sites that store in a bucket need it

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client("s3", **client_options)

    def _name(self, key):
        return self.prefix + _check_key(key)

    def save(self, key, fileobj):
        fileobj.seek(0)
        self.client.upload_fileobj(fileobj, self.bucket, self._name(key))

    def open(self, key):
        head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        return io.BufferedReader(_S3Reader(self.client, self.bucket, self._name(key),
                                           head["ContentLength"]), 256 << 10)

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def __repr__(self):
        return f"S3Storage({self.bucket!r}, {self.prefix!r})"


class _S3Reader(io.RawIOBase):
    """A seekable read-only view of one object.

    Reading streams one GET from the current position to the end; a seek
    elsewhere (a Range request) drops it and the next read starts a new GET at
    the new position, so a download costs one request and a resumed one too.
    """

    def __init__(self, client, bucket, name, size):
        super().__init__()
        self.client, self.bucket, self.name, self.size = client, bucket, name, size
        self.pos = 0
        self.body = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        new = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        if new < 0:
            raise ValueError("negative seek position")
        if new != self.pos:
            self._drop()
            self.pos = new
        return self.pos

    def readinto(self, buffer):
        if self.pos >= self.size or not len(buffer):
            return 0
        if self.body is None:
            self.body = self.client.get_object(
                Bucket=self.bucket, Key=self.name, Range=f"bytes={self.pos}-")["Body"]
        data = self.body.read(len(buffer))
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)

    def _drop(self):
        if self.body is not None:
            self.body.close()
            self.body = None

    def close(self):
        self._drop()
        super().close()


def from_config(setting, instance_path, s3_options=None):
    """The storage that ``CHAT_UPLOAD_STORAGE`` names (see the module docstring)."""
    if setting is None or setting == "":
        return LocalStorage(os.path.join(instance_path, "chat-uploads"))
    if not isinstance(setting, str):
        for name in ("save", "open", "delete"):
            if not callable(getattr(setting, name, None)):
                raise TypeError(f"CHAT_UPLOAD_STORAGE={setting!r} has no {name}() method: "
                                "give a folder, s3://bucket/prefix or a storage object.")
        return setting
    if setting.startswith("s3://"):
        url = urlsplit(setting)
        if not url.netloc:
            raise ValueError(f"CHAT_UPLOAD_STORAGE={setting!r} names no bucket: "
                             "write s3://bucket or s3://bucket/prefix.")
        return S3Storage(url.netloc, url.path, **(s3_options or {}))
    return LocalStorage(os.path.join(instance_path, setting))
