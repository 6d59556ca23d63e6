"""POST /chat/api/uploads and serving the files, through the app (SQLite, folder storage)."""
import io
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

import uploadfiles as files
from helpers import SeededAuth


@pytest.fixture
def small_app(tmp_path):
    """An app with a 20,000-byte upload limit and a 1-megapixel image limit."""
    from chatapp import create_app

    app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "SOCKETIO_ASYNC_MODE": "threading",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'chat.sqlite'}",
        "CHAT_UPLOAD_STORAGE": str(tmp_path / "uploads"), "CHAT_UPLOAD_MAX_BYTES": 20_000, "CHAT_UPLOAD_MAX_PIXELS": 1_000_000,
    })
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def users(app):
    seeded = SeededAuth(app)
    return seeded.register("alice"), seeded.register("bob")


def upload(client, content, filename="f.bin"):
    return client.post("/chat/api/uploads", data={"file": (io.BytesIO(content), filename)})


def fetch(client, url, **kw):
    """GET ``url``, read the whole body and close the response (its file)."""
    with client.get(url, **kw) as r:
        r.get_data()
    return r


def stored(app):
    """Every stored file (folder storage) and every upload row."""
    root = app.extensions["chat"].uploads.storage.root
    names = sorted(n for _, _, ns in os.walk(root) for n in ns) if os.path.isdir(root) else []
    t = app.extensions["chat"].uploads.table
    with app.extensions["chat"].engine.connect() as conn:
        rows = conn.execute(sa.select(t)).all()
    return names, rows


def test_jpeg_is_reencoded_without_exif_and_gets_a_thumbnail(app, users):
    alice, _ = users
    original = files.jpeg_with_gps((1200, 800), orientation=6)  # "rotate 90 clockwise"
    r = upload(alice, original, "holiday.jpg")
    assert r.status_code == 201, r.json
    att = r.json["attachment"]
    # Orientation 6 is applied to the pixels: the stored image stands upright.
    assert (att["type"], att["name"], att["width"], att["height"]) == \
        ("image/jpeg", "holiday.jpg", 800, 1200)
    assert set(att) == {"id", "name", "size", "type", "url", "width", "height", "thumb_url"}
    body = fetch(alice, att["url"])
    assert body.status_code == 200 and len(body.data) == att["size"]
    stored_image = Image.open(io.BytesIO(body.data))
    assert not stored_image.getexif(), "EXIF (GPS, orientation, maker) must be gone"
    assert b"PhoneMaker" not in body.data and b"Exif" not in body.data
    thumb = fetch(alice, att["thumb_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) == 320


def test_a_large_photo_is_accepted(app, users):
    """Megabytes of high-entropy JPEG data (the multipart parser buffers
    between reads: its memory limit must not refuse a file part)."""
    alice, _ = users
    noise = Image.effect_noise((2400, 1800), 30).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95)
    assert out.tell() > 2_000_000
    # (Werkzeug's test client spools a multipart body over 500 KB to a file
    # it never closes: send the bytes built here instead.)
    body, ctype = files.multipart(out.getvalue(), "big.jpg")
    r = alice.post("/chat/api/uploads", data=body, content_type=ctype)
    assert r.status_code == 201, r.json
    assert (r.json["attachment"]["width"], r.json["attachment"]["height"]) == (2400, 1800)


def test_served_headers_inline_image(app, users):
    alice, _ = users
    att = upload(alice, files.png(), "p.png").json["attachment"]
    r = fetch(alice, att["url"])
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert "private" in r.headers["Cache-Control"] and r.headers["ETag"]
    assert r.headers["Accept-Ranges"] == "bytes"


def test_range_and_conditional_requests(app, users):
    alice, _ = users
    att = upload(alice, files.pdf(), "doc.pdf").json["attachment"]
    full = fetch(alice, att["url"])
    assert full.headers["Content-Disposition"] == "attachment; filename=doc.pdf"
    part = fetch(alice, att["url"], headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.data == full.data[5:15]
    assert part.headers["Content-Range"] == f"bytes 5-14/{len(full.data)}"
    tail = fetch(alice, att["url"], headers={"Range": "bytes=-6"})
    assert tail.status_code == 206 and tail.data == full.data[-6:]
    bad = fetch(alice, att["url"], headers={"Range": f"bytes={len(full.data) + 10}-"})
    assert bad.status_code == 416
    again = fetch(alice, att["url"], headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # A resumed download of an unchanged file: If-Range with the ETag.
    resumed = fetch(alice, att["url"], headers={"Range": "bytes=10-", "If-Range": full.headers["ETag"]})
    assert resumed.status_code == 206 and resumed.data == full.data[10:]


@pytest.mark.parametrize("fmt,kind", [("PNG", "image/png"), ("GIF", "image/gif"),
                                      ("WEBP", "image/webp"), ("JPEG", "image/jpeg")])
def test_each_image_type(app, users, fmt, kind):
    alice, _ = users
    r = upload(alice, files.image(fmt), "x.dat")
    assert r.status_code == 201, r.json
    att = r.json["attachment"]
    assert att["type"] == kind and (att["width"], att["height"]) == (40, 30)
    assert att["name"].startswith("x.dat.")  # the extension follows the content
    assert Image.open(io.BytesIO(fetch(alice, att["url"]).data)).format == fmt


def test_animated_gif_keeps_its_frames(app, users):
    alice, _ = users
    frames = [Image.new("RGB", (30, 20), c) for c in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    att = upload(alice, out.getvalue(), "a.gif").json["attachment"]
    assert Image.open(io.BytesIO(fetch(alice, att["url"]).data)).n_frames == 3


def test_png_with_html_inside_is_stored_as_pixels_only(app, users):
    alice, _ = users
    payload = "<html><script>alert(document.cookie)</script></html>"
    r = upload(alice, files.png(text=payload), "x.png")
    assert r.status_code == 201
    body = fetch(alice, r.json["attachment"]["url"]).data
    assert b"<script" not in body and b"alert" not in body
    assert Image.open(io.BytesIO(body)).format == "PNG"


def test_plain_text_is_a_download(app, users):
    alice, bob = users
    text = "明天去咖啡馆\nnotes, v2 — ok\n".encode()
    r = upload(alice, text, "notes")
    assert r.status_code == 201
    att = r.json["attachment"]
    assert (att["type"], att["name"], att["size"]) == ("text/plain", "notes.txt", len(text))
    assert "thumb_url" not in att and "width" not in att
    got = fetch(alice, att["url"])
    assert got.data == text and got.headers["Content-Disposition"].startswith("attachment")
    assert got.mimetype == "text/plain"


@pytest.mark.parametrize("content,name", [
    (b"<!DOCTYPE html><p>hi", "a.txt"),
    (b"  \n<html><body>x", "a.txt"),
    (b"<script>alert(1)</script>", "a.txt"),
    (b"<p>looks like text", "a.txt"),
    (b"<?xml version='1.0'?><a/>", "a.txt"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg"),
    (b"hello\x00world", "a.txt"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, "a.txt"),
])
def test_markup_and_binary_are_not_plain_text(app, users, content, name):
    alice, _ = users
    r = upload(alice, content, name)
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"
    assert stored(app) == ([], [])


def test_archives_and_bombs_are_refused(app, users):
    alice, _ = users
    r = upload(alice, files.zip_bomb(), "bomb.zip")
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"
    import gzip
    r = upload(alice, gzip.compress(b"\x00" * (5 << 20)), "bomb.txt")
    assert r.status_code == 415
    # A header promising 100000 x 100000 pixels: refused before decoding.
    r = upload(alice, files.png_header_only(100_000, 100_000), "bomb.png")
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"
    truncated = files.jpeg_with_gps()[:2000]
    assert upload(alice, truncated, "cut.jpg").status_code == 415
    assert stored(app) == ([], [])
    # ...and the app keeps serving.
    assert upload(alice, files.png(), "ok.png").status_code == 201


def test_pixel_limit_is_configurable(small_app):
    alice = SeededAuth(small_app).register("alice")
    r = upload(alice, files.png_header_only(1001, 1000), "big.png")
    assert r.status_code == 413 and "megapixel" in r.json["error"]["message"]
    r = upload(alice, files.png((1000, 1000), mode="1"), "ok.png")
    assert r.status_code == 201 and r.json["attachment"]["width"] == 1000


def test_size_limit_exact_and_one_over(small_app):
    alice = SeededAuth(small_app).register("alice")
    exact = upload(alice, b"a" * 20_000, "exact.txt")
    assert exact.status_code == 201 and exact.json["attachment"]["size"] == 20_000
    over = upload(alice, b"a" * 20_001, "over.txt")
    assert over.status_code == 413 and over.json["error"]["code"] == "too_large"
    names, rows = stored(small_app)
    assert len(names) == 1 and [r.name for r in rows] == ["exact.txt"]


class _Unsized(io.RawIOBase):
    """A request body of unknown length (the test client measures streams by
    seeking to their end: this one says it is empty; the test sets the length)."""

    def readable(self):
        return True

    def tell(self):
        return 0

    def seek(self, offset, whence=0):
        return 0


class _MustNotRead(_Unsized):
    def readinto(self, b):
        raise AssertionError("the body was read")


def test_declared_length_over_limit_is_refused_unread(small_app):
    alice = SeededAuth(small_app).register("alice")
    _, ctype = files.multipart(b"")
    r = alice.post("/chat/api/uploads", input_stream=_MustNotRead(), content_type=ctype,
                   environ_overrides={"CONTENT_LENGTH": str(2 << 30)})
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"


def test_chunked_body_is_cut_off_at_the_limit(small_app):
    """No length declared: the parser stops reading just past the limit."""
    alice = SeededAuth(small_app).register("alice")
    read = [0]

    class Endless(_Unsized):
        def readinto(self, b):
            head = files.multipart(b"")[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            chunk = (head if read[0] == 0 else b"a" * len(b))[:len(b)]
            b[:len(chunk)] = chunk
            read[0] += len(chunk)
            assert read[0] < 1 << 20, "kept reading far past the limit"
            return len(chunk)

    _, ctype = files.multipart(b"")
    r = alice.post("/chat/api/uploads", input_stream=Endless(), content_type=ctype,
                   environ_overrides={"CONTENT_LENGTH": None, "wsgi.input_terminated": True})
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"
    assert read[0] < 20_000 + 200_000
    assert stored(small_app) == ([], [])


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "passwd.txt"),
    ("..\\..\\boot.ini", "boot.ini.txt"),
    ("a\x01b\x1b[31mc\x7f.txt", "ab[31mc.txt"),
    ("invoice\u202etxt.exe", "invoicetxt.exe.txt"),
    ("...", "file.txt"),
    ("", "file.txt"),
    ("报告.txt", "报告.txt"),
])
def test_safe_file_names(app, users, raw, expected):
    alice, _ = users
    r = upload(alice, b"plain words\n", raw)
    assert r.status_code == 201, r.json
    assert r.json["attachment"]["name"] == expected


def test_long_file_name_is_cut_keeping_the_extension(app, users):
    alice, _ = users
    name = upload(alice, b"x\n", "n" * 500 + ".txt").json["attachment"]["name"]
    assert len(name) == 200 and name.endswith(".txt")


def test_non_ascii_name_in_content_disposition(app, users):
    alice, _ = users
    att = upload(alice, files.pdf(), "报告 final.pdf").json["attachment"]
    cd = fetch(alice, att["url"]).headers["Content-Disposition"]
    assert cd.startswith("attachment;") and "filename*=UTF-8''%E6%8A%A5%E5%91%8A%20final.pdf" in cd


def test_unsent_upload_only_for_its_uploader(app, users):
    alice, bob = users
    att = upload(alice, files.png(), "p.png").json["attachment"]
    for who in (bob, app.test_client()):
        for url in (att["url"], att["thumb_url"]):
            r = fetch(who, url)
            assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    for forged in ("0" * 32, att["id"][:-1] + "0", "..%2F..%2Fsecret_key", "x"):
        assert fetch(alice, f"/chat/files/{forged}").status_code == 404


def test_request_shape_errors(app, users):
    alice, _ = users
    anon = app.test_client()
    r = anon.post("/chat/api/uploads", data={"file": (io.BytesIO(b"x\n"), "a.txt")})
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    r = alice.post("/chat/api/uploads", json={"file": "x"})
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"
    r = alice.post("/chat/api/uploads", data={"other": (io.BytesIO(b"x\n"), "a.txt")})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"
    r = alice.post("/chat/api/uploads", data={"file": (io.BytesIO(b""), "empty.txt")})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"
    r = alice.post("/chat/api/uploads", data={"file": (io.BytesIO(b"x\n"), "a.txt")},
                   headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    body, ctype = files.multipart(b"x\n")
    r = alice.post("/chat/api/uploads", data=body[:-10], content_type=ctype)
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"
    assert stored(app) == ([], [])


def test_cleanup_removes_old_unsent_uploads(app, users):
    alice, _ = users
    old = upload(alice, files.png(), "old.png").json["attachment"]
    new = upload(alice, b"fresh\n", "new.txt").json["attachment"]
    uploads = app.extensions["chat"].uploads
    with app.extensions["chat"].engine.begin() as conn:
        t = uploads.table
        row = conn.execute(sa.select(t.c.created_at).where(t.c.id == old["id"])).scalar_one()
        conn.execute(t.update().where(t.c.id == old["id"]).values(
            created_at=row - timedelta(hours=25)))
    result = app.test_cli_runner().invoke(args=["chat", "cleanup"])
    assert result.exit_code == 0 and "Removed 1 " in result.output
    names, rows = stored(app)
    assert [r.id for r in rows] == [new["id"]] and names == [new["id"]]
    assert fetch(alice, old["url"]).status_code == 404
    assert fetch(alice, new["url"]).status_code == 200
