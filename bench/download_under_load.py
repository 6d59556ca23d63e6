"""Does serving a big attachment to a slow reader hold up chat?

    python bench/download_under_load.py [--repeat 3] [--size-mb 50] [--rate-kib 2048]

Starts ``python wsgi.py`` (eventlet, SQLite in a temporary folder), stores a
``--size-mb`` file as an upload of one user (written straight into the
server's storage and database: the upload limit is far below 50 MB), then runs
the ws50 scenario alternately without and with that user downloading the file
over one connection read at ``--rate-kib`` KiB/s. Prints ws50's ack p99 of
each kind of run, their medians and the ratio (target: at most 1.5).
"""
import argparse
import io
import os
import secrets
import socket
import sys
import threading
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench import scenarios, stats, users  # noqa: E402
from bench.server import ChatServer  # noqa: E402


def store_big_file(instance, uploader_id, size):
    """Put a ``size``-byte upload of ``uploader_id`` into the server's storage."""
    from chatapp import create_app
    from chatapp.models import utcnow

    os.environ["CHATAPP_INSTANCE_PATH"] = instance
    app = create_app()
    uploads = app.extensions["chat"].uploads
    key = secrets.token_hex(16)
    block = os.urandom(1 << 20)
    data = io.BytesIO(block * (size >> 20))
    uploads.storage.save(key, data)
    with app.extensions["chat"].engine.begin() as conn:
        conn.execute(uploads.table.insert().values(
            id=key, uploader_id=uploader_id, name="big.pdf", type="application/pdf",
            size=size, created_at=utcnow()))
    return f"/chat/files/{key}"


class SlowReader(threading.Thread):
    """One HTTP download read at a fixed rate until stopped or complete."""

    def __init__(self, port, path, cookie, rate):
        super().__init__(daemon=True)
        self.port, self.path, self.cookie, self.rate = port, path, cookie, rate
        self.stop = threading.Event()
        self.received = 0
        self.started = None

    def run(self):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nCookie: {self.cookie}\r\n"
                      "Connection: close\r\n\r\n".encode())
            self.started = time.monotonic()
            step = self.rate // 10
            while not self.stop.is_set():
                t0 = time.monotonic()
                got = 0
                while got < step:
                    chunk = s.recv(min(65536, step - got))
                    if not chunk:
                        return
                    got += len(chunk)
                self.received += got
                time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--size-mb", type=int, default=50)
    p.add_argument("--rate-kib", type=int, default=2048, help="the slow reader's pace")
    p.add_argument("--procs", type=int, default=2)
    args = p.parse_args(argv)
    sc = scenarios.SCENARIOS["ws50"]
    with ChatServer() as server:
        pool = users.register(server.url, sc["users"] + 1)
        reader_user = pool.pop()
        path = store_big_file(server.tmp.name, reader_user["id"], args.size_mb << 20)
        runs = {"without": [], "with download": []}
        for i in range(args.repeat):
            for kind in runs:
                reader = None
                if kind == "with download":
                    reader = SlowReader(server.port, path, reader_user["cookie"],
                                        args.rate_kib << 10)
                    reader.start()
                    time.sleep(1.0)  # the download is under way
                r = scenarios.run(server.url, server.pid, pool, sc, args.procs, 180)
                note = ""
                if reader:
                    reader.stop.set()
                    reader.join(5)
                    note = f" (downloaded {reader.received / 2**20:.1f} MiB meanwhile)"
                    if reader.received < (args.rate_kib << 10):
                        raise SystemExit("the download did not run: check the server log")
                runs[kind].append(r["ack_p99"])
                print(f"#{i + 1} {kind}: ws50 ack p99 {r['ack_p99']:.1f} ms, lost "
                      f"{r.get('lost')}{note}", file=sys.stderr)
    base, loaded = stats.median(runs["without"]), stats.median(runs["with download"])
    print(f"ws50 ack p99, median of {args.repeat}: without {base:.1f} ms, "
          f"with a {args.size_mb} MB download at {args.rate_kib} KiB/s {loaded:.1f} ms, "
          f"ratio {loaded / base:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
