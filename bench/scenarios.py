"""The scenarios, and how one run of one scenario is driven against one server."""
import multiprocessing as mp
import secrets
import time

from . import load
from .server import ProcWatch
from .stats import pct

SCENARIOS = {
    "ws50": dict(transport="websocket", users=100, messages=50, window=1),
    "ws200": dict(transport="websocket", users=100, messages=200, window=10),
    "poll20": dict(transport="polling", users=100, messages=20, window=1),
    "idle-ws": dict(transport="websocket", users=1000, messages=0, hold_s=5),
    "idle-poll": dict(transport="polling", users=1000, messages=0, hold_s=5),
    "fairness": dict(transport="websocket", users=4, messages=2000, window=1, flood=True),
    # 1,000 held, then each user's second connection beside the first: the
    # growth for the second 1,000 is memory no earlier run can have freed.
    # Meaningful once per server process, so it runs once whatever --repeat.
    "held-ws": dict(transport="websocket", users=1000, messages=0, hold_s=5, twice=True),
    "held-poll": dict(transport="polling", users=1000, messages=0, hold_s=5, twice=True),
    # Contract v2.0: 20 groups of 10 members, each member sends 20 messages
    # (window 1) to its group; msg/s counts deliveries (9 per message).
    # chatapp only: the 1:1 peer has no groups.
    "group": dict(transport="websocket", users=200, groups=20, group_size=10,
                  messages=20, window=1, own=True),
}


def make_groups(url, users, count, size):
    """``count`` groups of ``size`` users, made over HTTP by their first member."""
    import requests

    groups = []
    for g in range(count):
        members = users[g * size:(g + 1) * size]
        r = requests.post(url + "/chat/api/groups", timeout=60,
                          headers={"Cookie": members[0]["cookie"]},
                          json={"title": f"bench {g}", "members": [u["id"] for u in members[1:]]})
        if r.status_code != 201:
            raise RuntimeError(f"create group: {r.status_code} {r.text[:200]}")
        groups.append({"id": r.json()["conversation"]["id"], "members": members})
    return groups


def _split(pairs, procs):
    return [pairs[i::procs] for i in range(procs) if pairs[i::procs]]


def _start(specs):
    ctx = mp.get_context("spawn")  # a clean interpreter per worker, no inherited sockets
    workers = []
    for spec in specs:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=load.worker, args=(child, spec), daemon=True)
        p.start()
        workers.append((p, parent))
    return workers


def _recv(conn, timeout):
    if not conn.poll(timeout):
        raise TimeoutError("a load worker did not answer in time")
    msg = conn.recv()
    if "fatal" in msg:
        raise RuntimeError(f"load worker failed: {msg['fatal']}")
    return msg


def _stop(workers):
    for p, _ in workers:
        p.join(10)
        if p.is_alive():
            p.terminate()
            p.join()


def run(url, pid, users, sc, procs=2, timeout=180):
    """One run of scenario ``sc`` with ``users`` (already registered); a result dict."""
    watch = ProcWatch(pid)
    n = sc["users"]
    pairs = [(users[i], users[i + 1]) for i in range(0, n - 1, 2)]
    tag = secrets.token_hex(3)
    base = dict(url=url, transport=sc["transport"], messages=sc["messages"],
                window=sc.get("window", 1), tag=tag)
    if sc.get("groups"):
        groups = make_groups(url, users, sc["groups"], sc["group_size"])
        specs = [dict(base, groups=part, pairs=[], mode="group", tag=f"{tag}{i}")
                 for i, part in enumerate(_split(groups, procs))]
    elif sc.get("flood"):
        specs = [dict(base, pairs=pairs[:1], mode="flood", tag=tag + "f"),
                 dict(base, pairs=pairs[1:], mode="victim", tag=tag + "v")]
    else:
        mode = "send" if sc["messages"] else "idle"
        specs = [dict(base, pairs=part, mode=mode, tag=f"{tag}{i}")
                 for i, part in enumerate(_split(pairs, procs))]
    time.sleep(0.5)
    rss0 = watch.rss_kib()
    workers = _start(specs)
    second = []
    try:
        if sc.get("twice"):
            return _drive_twice(workers, second, specs, sc, watch, rss0, timeout)
        return _drive(workers, specs, sc, watch, rss0, timeout)
    finally:
        _stop(workers + second)


def _connected(conns):
    return {"connected": sum(c["connected"] for c in conns),
            "connect_failed": sum(c["failed"] for c in conns),
            "connect_errors": [e for c in conns for e in c["errors"]]}


def _drive_twice(workers, second, specs, sc, watch, rss0, timeout):
    first = [_recv(c, timeout) for _, c in workers]
    time.sleep(0.5)
    rss1 = watch.rss_kib()
    second += _start([dict(s, tag=s["tag"] + "t") for s in specs])
    again = [_recv(c, timeout) for _, c in second]
    time.sleep(sc["hold_s"])
    rss2 = watch.rss_kib()
    for _, c in workers + second:
        c.send("stop")
    reports = [_recv(c, timeout) for _, c in workers + second]
    out = _connected(first + again)
    out["duplicates"] = sum(r["duplicates"] for r in reports)
    n1, n2 = (sum(c["connected"] for c in conns) for conns in (first, again))
    if rss0 and rss1 and rss2 and n1 and n2:
        out["rss_first_kib"] = (rss1 - rss0) / n1
        out["rss_per_conn_kib"] = (rss2 - rss1) / n2
    return out


def _drive(workers, specs, sc, watch, rss0, timeout):
    out = _connected([_recv(c, timeout) for _, c in workers])
    time.sleep(0.5)
    if not sc["messages"]:
        rss1 = watch.rss_kib()
        time.sleep(sc["hold_s"])
        rss2 = watch.rss_kib()
        for _, c in workers:
            c.send("stop")
        reports = [_recv(c, timeout) for _, c in workers]
        if rss0 and rss2 and out["connected"]:
            out["rss_per_conn_kib"] = (rss2 - rss0) / out["connected"]
            out["rss_after_connect_kib"] = rss1
        out["duplicates"] = sum(r["duplicates"] for r in reports)
        return out
    cpu0, t0 = watch.cpu_s(), time.monotonic()
    for _, c in workers:
        c.send("go")
    if sc.get("flood"):
        _recv(workers[0][1], timeout)  # the flood is all acknowledged
        workers[1][1].send("stop")
        _recv(workers[1][1], timeout)
    else:
        for _, c in workers:
            _recv(c, timeout)
    reports = [_recv(c, timeout) for _, c in workers]
    wall = time.monotonic() - t0
    cpu1 = watch.cpu_s()
    out.update(_merge(reports))
    if cpu0 is not None and cpu1 is not None:
        out["server_cpu_pct"] = 100 * (cpu1 - cpu0) / wall
    out["rss_peak_kib"] = watch.rss_kib()
    if sc.get("flood"):
        flood, victim = reports
        out["flood_acked"] = flood["acked"]
        out["victim_ack_p99"] = pct(victim["ack_ms"], 99)
        out["victim_acks"] = victim["acked"]
    return out


def _merge(reports):
    m = {"sent": 0, "acked": 0, "received": 0, "lost": 0, "duplicates": 0}
    ack, e2e, errors = [], [], {}
    firsts = [r["first_send"] for r in reports if r["first_send"]]
    lasts = [r["last_recv"] for r in reports if r["last_recv"]]
    for r in reports:
        for k in m:
            m[k] += r[k]
        ack += r["ack_ms"]
        e2e += r["e2e_ms"]
        for code, k in r["errors"].items():
            errors[code] = errors.get(code, 0) + k
    wall = max(lasts) - min(firsts) if firsts and lasts else None
    m["msgs_per_s"] = m["received"] / wall if wall else None
    m["errors"] = errors
    for p in (50, 95, 99):
        m[f"ack_p{p}"] = pct(ack, p)
        m[f"e2e_p{p}"] = pct(e2e, p)
    return m
