"""Server time of ``GET /chat/api/me``: what checking the session costs per request.

    python bench/session_check.py [--requests 3000] [--rounds 5]

In-process with the test client (the whole Flask request: session cookie,
``user_loader``, view, JSON), on a fresh SQLite database; prints the mean and
p50/p99 in microseconds of each round. Run it on two checkouts in turn to
compare them (copy this file into the other checkout's bench/ and run it
there). Then, with ``--loader``, the user loader alone, the session's check
against a plain load by id, interleaved in one process.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loader", action="store_true",
                        help="also time the user loader with and without the check")
    args = parser.parse_args()

    from chatapp import create_app
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SECRET_KEY": "bench", "SOCKETIO_ASYNC_MODE": "threading",
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite"})
        client = app.test_client()
        r = client.post("/auth/register", json={"username": "bench", "password": "password123"})
        assert r.status_code == 201, r.data
        for _ in range(200):  # warm up
            client.get("/chat/api/me")
        for n in range(args.rounds):
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                r = client.get("/chat/api/me")
                times.append(time.perf_counter() - started)
                assert r.status_code == 200
            times.sort()
            us = [t * 1e6 for t in times]
            print(f"round {n + 1}: mean {statistics.fmean(us):.1f} us  "
                  f"p50 {us[len(us) // 2]:.1f}  p99 {us[int(len(us) * 0.99)]:.1f}")
        if args.loader:
            compare_loaders(app, args.requests, args.rounds)


def compare_loaders(app, count, rounds):
    """Each call in a new database session, as in a request: one SELECT either way."""
    from chatapp.standalone.models import User, db
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        token, plain = user.get_id(), user.id
        ways = {"by id": lambda: db.session.get(User, int(str(plain))),
                "checked": lambda: User.by_session_id(token)}
        for n in range(rounds):
            for name, load in ways.items():
                times = []
                for _ in range(count):
                    db.session.remove()
                    started = time.perf_counter()
                    assert load() is not None
                    times.append(time.perf_counter() - started)
                times.sort()
                print(f"loader round {n + 1} {name:8}: p50 {times[len(times) // 2] * 1e6:.1f} us")


if __name__ == "__main__":
    main()
