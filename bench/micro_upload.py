"""Time to upload a 5 MB JPEG: check, decode, re-encode, thumbnail, store.

    python bench/micro_upload.py [--samples 10] [--mb 5]

Makes a photo-like JPEG of about ``--mb`` MB (noise over gradients, so it does
not compress away; EXIF with a GPS position), then posts it ``--samples``
times: in-process through the Flask view (server time alone), and over HTTP
to ``python wsgi.py`` (eventlet) on loopback, request sent to answer read.
Prints p50/max in milliseconds for each. Target: at most 1 s.
"""
import argparse
import io
import os
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from bench.server import ChatServer  # noqa: E402
from bench.stats import pct  # noqa: E402


def photo(mb):
    """A JPEG of about ``mb`` MB (4:3, grown until it is that big)."""
    width, height = 2000, 1500
    while True:
        noise = Image.effect_noise((width, height), 30).convert("RGB")
        grad = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        im = Image.blend(noise, grad, 0.5)
        exif = Image.Exif()
        exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 24.0)})
        out = io.BytesIO()
        im.save(out, "JPEG", quality=92, exif=exif)
        if out.tell() >= mb * 1_000_000 or width > 8000:
            return out.getvalue(), (width, height)
        width, height = int(width * 1.1), int(height * 1.1)


def in_process(data, samples):
    from chatapp import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.sqlite",
                          "SECRET_KEY": "bench", "SOCKETIO_ASYNC_MODE": "threading",
                          "CHAT_UPLOAD_STORAGE": f"{tmp}/files"})
        client = app.test_client()
        r = client.post("/auth/register", json={"username": "uploader",
                                                "password": "password123"})
        assert r.status_code == 201, r.get_json()
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            r = client.post("/chat/api/uploads", data={"file": (io.BytesIO(data), "p.jpg")})
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.get_json()
        return times, r.get_json()["attachment"]


def over_http(data, samples):
    with ChatServer() as server:
        s = requests.Session()
        r = s.post(server.url + "/auth/register", json={"username": "uploader",
                                                        "password": "password123"})
        assert r.status_code == 201, r.text
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            r = s.post(server.url + "/chat/api/uploads", files={"file": ("p.jpg", data)},
                       timeout=60)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.text
        return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--mb", type=float, default=5)
    args = p.parse_args(argv)
    data, size = photo(args.mb)
    print(f"JPEG {len(data) / 1e6:.1f} MB, {size[0]}x{size[1]} px, {args.samples} uploads each")
    rows = []
    times, att = in_process(data, args.samples)
    rows.append(("in-process (server time)", times))
    rows.append(("HTTP, python wsgi.py", over_http(data, args.samples)))
    print(f"stored {att['size'] / 1e6:.1f} MB re-encoded, {att['width']}x{att['height']} px, "
          "and a thumbnail of at most 320 px")
    print(f"{'':28} {'p50':>8} {'max':>8}  (ms; target <= 1000)")
    for name, xs in rows:
        print(f"{name:28} {pct(xs, 50):8.0f} {max(xs):8.0f}")


if __name__ == "__main__":
    main()
