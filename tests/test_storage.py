"""Both storage backends: the folder, and S3 against a real S3-compatible server
(moto's server mode in a subprocess, see s3server.py)."""
import io
import time

import pytest

import uploadfiles as files
from helpers import SeededAuth
from chatapp import storage
from s3server import S3_OPTIONS, bucket, s3_server  # noqa: F401 (fixtures)


@pytest.fixture(params=["folder", "s3"])
def backend(request, tmp_path):
    if request.param == "folder":
        return storage.from_config(str(tmp_path / "files"), str(tmp_path))
    name, _ = request.getfixturevalue("bucket")
    s3 = request.getfixturevalue("s3_server")
    return storage.from_config(f"s3://{name}/some/prefix", str(tmp_path),
                               {"endpoint_url": s3, **S3_OPTIONS})


def test_save_open_seek_delete(backend):
    data = bytes(range(256)) * 4096  # 1 MiB
    backend.save("k1", io.BytesIO(data))
    with backend.open("k1") as f:
        assert f.seek(0, 2) == len(data)
        f.seek(0)
        assert f.read(10) == data[:10]
        f.seek(500_000)
        assert f.read(100) == data[500_000:500_100]
        assert f.read() == data[500_100:]
        f.seek(3)
        assert f.read(5) == data[3:8]
    backend.delete("k1")
    backend.delete("k1")  # twice is fine
    with pytest.raises(Exception):
        backend.open("k1")


@pytest.mark.parametrize("key", ["../escape", "a/b", "", ".hidden", "x" * 101])
def test_bad_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError):
        storage.LocalStorage(tmp_path).path(key)


def test_storage_setting_errors(tmp_path):
    with pytest.raises(ValueError):
        storage.from_config("s3://", str(tmp_path))
    with pytest.raises(TypeError):
        storage.from_config(object(), str(tmp_path))
    assert storage.from_config(None, str(tmp_path)).root == str(tmp_path / "chat-uploads")


def test_uploads_end_to_end_on_s3(tmp_path, bucket, s3_server):
    """The app stores in the bucket, serves from it (Range included) and cleans it."""
    from chatapp import create_app

    name, client = bucket
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "SOCKETIO_ASYNC_MODE": "threading",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'chat.sqlite'}",
        "CHAT_UPLOAD_STORAGE": f"s3://{name}/chat",
        "CHAT_UPLOAD_S3": {"endpoint_url": s3_server, **S3_OPTIONS},
    })
    alice = SeededAuth(app).register("alice")
    r = alice.post("/chat/api/uploads",
                   data={"file": (io.BytesIO(files.jpeg_with_gps()), "gps.jpg")})
    assert r.status_code == 201, r.json
    att = r.json["attachment"]
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"])
    assert keys == [f"chat/{att['id']}", f"chat/{att['id']}.thumb"]
    stored = client.get_object(Bucket=name, Key=f"chat/{att['id']}")["Body"].read()
    assert b"Exif" not in stored and len(stored) == att["size"]
    with alice.get(att["url"]) as full:
        assert full.get_data() == stored
    with alice.get(att["url"], headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206 and part.get_data() == stored[100:200]
    with alice.get(att["thumb_url"]) as thumb:
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    # Never sent: cleanup removes the objects too (kept for 0 s here).
    assert app.extensions["chat"].uploads.cleanup() == 0
    time.sleep(0.01)
    assert app.extensions["chat"].uploads.cleanup(older_than=0) == 1
    assert client.list_objects_v2(Bucket=name).get("KeyCount") == 0
    with alice.get(att["url"]) as gone:
        assert gone.status_code == 404
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()
