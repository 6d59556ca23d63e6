"""One load-generator process: real Socket.IO clients (asyncio) for some users.

Both users of a pair (every member of a group) live in the same process, so
send->receive latency is read on one clock. The parent drives the phases over
a pipe: connect, go, stop.
"""
import asyncio
import time

import socketio

NS = "/chat"


class Peer:
    """One user's connection, and what it sent and received."""

    def __init__(self, user, transport):
        self.user = user
        self.transport = transport
        # 30 s per HTTP request, as the yardstick's load generator allows a
        # connect (python-socketio's default of 5 s fails a polling client
        # whose handshake waits behind a thousand others on a busy machine).
        self.sio = socketio.AsyncClient(reconnection=False, request_timeout=30)
        self.received = {}  # client_id -> receive time
        self.duplicates = 0
        self.sio.on("message", self.on_message, namespace=NS)

    async def on_message(self, msg):
        key = msg.get("client_id")
        if key in self.received:
            self.duplicates += 1
        else:
            self.received[key] = time.perf_counter()

    async def connect(self):
        await self.sio.connect(self.url, headers={"Cookie": self.user["cookie"]},
                               transports=[self.transport], namespaces=[NS],
                               wait_timeout=60)


class Sender:
    """Sends ``count`` messages to ``to`` with at most ``window`` unacknowledged."""

    def __init__(self, peer, to, count, window, tag, size=40, receivers=None):
        self.peer, self.to, self.count, self.window = peer, to, count, window
        #: ``{"to": id}`` (direct) or ``{"conversation": id}`` (group)
        self.target = to if "conversation" in to else {"to": to["id"]}
        self.receivers = receivers or []
        self.tag, self.body = tag, "x" * size
        self.sent = {}  # client_id -> send time
        self.acked = set()
        self.ack_ms = []
        self.errors = {}

    async def one(self, seq):
        cid = f"{self.tag}-{seq}"
        t0 = time.perf_counter()
        self.sent[cid] = t0
        try:
            ack = await self.peer.sio.call("chat-to", {**self.target, "content": self.body,
                                                       "client_id": cid}, namespace=NS, timeout=60)
        except Exception as exc:  # a timeout counts as an error, never as a success
            ack = {"ok": False, "error": {"code": type(exc).__name__}}
        if ack.get("ok"):
            self.acked.add(cid)
            self.ack_ms.append((time.perf_counter() - t0) * 1000)
        else:
            code = ack.get("error", {}).get("code", "?")
            self.errors[code] = self.errors.get(code, 0) + 1

    async def run(self, stop=None):
        async def lane(seqs):
            for seq in seqs:
                if stop is not None and stop():
                    return
                await self.one(seq)
        lanes = [lane(range(i, self.count, self.window)) for i in range(self.window)]
        await asyncio.gather(*lanes)

    async def flood(self):
        """Every frame at once, as fast as the client can write them."""
        await asyncio.gather(*(self.one(seq) for seq in range(self.count)))


async def _main(conn, spec):
    url, transport = spec["url"], spec["transport"]
    peers = []
    for group in spec.get("groups") or spec["pairs"]:
        members = group["members"] if isinstance(group, dict) else group
        peers.append(tuple(Peer(u, transport) for u in members))
    for team in peers:
        for p in team:
            p.url = url
    t0 = time.perf_counter()
    flat = [p for pair in peers for p in pair]
    results = await asyncio.gather(*(p.connect() for p in flat), return_exceptions=True)
    failed = [repr(r) for r in results if isinstance(r, Exception)]
    conn.send({"connected": len(flat) - len(failed), "failed": len(failed),
               "errors": failed[:3], "connect_s": time.perf_counter() - t0})
    cmd = await asyncio.to_thread(conn.recv)
    senders = []
    if cmd == "go":
        senders = await _drive(spec, peers, conn)
    await asyncio.gather(*(p.sio.disconnect() for p in flat), return_exceptions=True)
    conn.send(_report(peers, senders))


async def _drive(spec, peers, conn):
    mode, count, window = spec["mode"], spec["messages"], spec["window"]
    senders = []
    if mode == "group":
        for i, (group, team) in enumerate(zip(spec["groups"], peers)):
            for j, p in enumerate(team):
                senders.append(Sender(p, {"conversation": group["id"]}, count, window,
                                      f"{spec['tag']}-{i}-{j}",
                                      receivers=[q for q in team if q is not p]))
        await asyncio.gather(*(s.run() for s in senders))
        conn.send({"sent": True})
        await _wait_delivered(spec, peers, senders)
        return senders
    for i, (pa, pb) in enumerate(peers):
        senders.append(Sender(pa, pb.user, count, window, f"{spec['tag']}-{i}a",
                              receivers=[pb]))
        if mode != "flood":
            senders.append(Sender(pb, pa.user, count, window, f"{spec['tag']}-{i}b",
                                  receivers=[pa]))
    if mode == "flood":
        await asyncio.gather(*(s.flood() for s in senders))
    elif mode == "victim":
        # Send until the parent says the flood is over.
        done = asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await asyncio.gather(*(s.run(stop=done.done) for s in senders))
    else:
        await asyncio.gather(*(s.run() for s in senders))
    conn.send({"sent": True})
    await _wait_delivered(spec, peers, senders)
    return senders


async def _wait_delivered(spec, peers, senders):
    deadline = time.perf_counter() + spec.get("drain_s", 5)
    while time.perf_counter() < deadline and not _all_delivered(peers, senders):
        await asyncio.sleep(0.02)


def _all_delivered(peers, senders):
    return all(cid in r.received for s in senders for cid in s.acked for r in s.receivers)


def _report(peers, senders):
    out = {"sent": 0, "acked": 0, "received": 0, "lost": 0, "duplicates": 0,
           "ack_ms": [], "e2e_ms": [], "errors": {}, "first_send": None, "last_recv": None}
    for s in senders:
        out["sent"] += len(s.sent)
        out["acked"] += len(s.ack_ms)
        out["ack_ms"] += s.ack_ms
        for code, n in s.errors.items():
            out["errors"][code] = out["errors"].get(code, 0) + n
        for cid, t_send in s.sent.items():
            if cid not in s.acked:
                continue  # refused or timed out: counted in errors
            for receiver in s.receivers:  # one delivery per receiving member
                got = receiver.received
                if cid in got:
                    out["received"] += 1
                    out["e2e_ms"].append((got[cid] - t_send) * 1000)
                    out["last_recv"] = max(out["last_recv"] or 0, got[cid])
                else:
                    out["lost"] += 1
        if s.sent:
            first = min(s.sent.values())
            out["first_send"] = min(out["first_send"] or first, first)
    out["duplicates"] = sum(p.duplicates for pair in peers for p in pair)
    return out


def worker(conn, spec):
    """Process entry point: run the clients of ``spec``, talk to the parent on ``conn``."""
    try:
        asyncio.run(_main(conn, spec))
    except Exception as exc:  # the parent must hear about it rather than hang
        conn.send({"fatal": repr(exc)})
