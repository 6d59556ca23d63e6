"""The widget in a real browser (Playwright + Chromium), on the eventlet server.

    python bench/browser.py [--rounds 40] [--chromium /usr/bin/chromium]

Prints, beside the targets:
- click -> shown: a send clicked in one page until the bubble is in the other
  page's DOM, median and p90, over WebSocket and over long-polling (both pages
  without ``window.WebSocket``); both pages read the same clock
  (``performance.timeOrigin + performance.now()``);
- warm reload to first list row: ``page.reload()`` with the HTTP cache and the
  tab's sessionStorage warm, from navigation start to the first
  ``.chat-list li`` in the DOM;
- JS + CSS compressed: the bytes of chat.js, chat.css and the vendored
  Socket.IO client as the server sends them with ``Accept-Encoding: gzip``
  (and with ``br``, and with what Chromium offers: the figure to read);
- 3G cold load: a new browser context (empty cache and storage) under CDP
  network emulation (1.6 Mbit/s down, 750 kbit/s up, 150 ms RTT) from
  navigation start to the first conversation row.
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.server import ChatServer  # noqa: E402

PASSWORD = "bench-password-1"
NO_WEBSOCKET = "delete window.WebSocket;"
FIRST_ROW = """
window.__firstRow = null;
new MutationObserver(function (changes, obs) {
  if (document.querySelector('.chat-list li')) { window.__firstRow = performance.now(); obs.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""
SEEN = """
window.__seen = {};
new MutationObserver(function (changes) {
  changes.forEach(function (c) {
    c.addedNodes.forEach(function (n) {
      if (n.nodeType !== 1 || !n.querySelector) { return; }
      var t = n.querySelector('.chat-text');
      if (t && n.classList.contains('chat-other')) {
        window.__seen[t.textContent] = performance.timeOrigin + performance.now();
      }
    });
  });
}).observe(document, {childList: true, subtree: true});
"""
SEND = """text => {
  var box = document.getElementById('chat-input');
  box.value = text;
  var t0 = performance.timeOrigin + performance.now();
  document.querySelector('.chat-send').click();
  return t0;
}"""
CHROMIUM_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium offers
THREE_G = {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8,
           "uploadThroughput": 750e3 / 8}


def register(url, name):
    s = requests.Session()
    r = s.post(url + "/auth/register", json={"username": name, "password": PASSWORD})
    r.raise_for_status()
    s.user = r.json()["user"]
    return s


def page_for(browser, url, session, init=None, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1100, "height": 720})
    context.add_cookies([{"name": k, "value": v, "url": url} for k, v in session.cookies.items()])
    for script in init or []:
        context.add_init_script(script)
    page = context.new_page()
    return context, page


def wait_connected(page):
    page.wait_for_selector('.chat-status[data-state="connected"]', timeout=20000)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def click_to_shown(browser, url, rounds, polling):
    a, b = register(url, f"a{os.getpid()}{polling:d}"), register(url, f"b{os.getpid()}{polling:d}")
    init = [NO_WEBSOCKET] if polling else []
    ca, pa = page_for(browser, url, a, init)
    cb, pb = page_for(browser, url, b, init + [SEEN])
    try:
        for p in (pa, pb):
            p.goto(url + "/")
            wait_connected(p)
        pa.evaluate("id => ChatWidget.open(id)", b.user["id"])
        pa.wait_for_selector(".chat-container:not([hidden])")
        pb.evaluate("id => ChatWidget.open(id)", a.user["id"])
        pb.wait_for_selector(".chat-container:not([hidden])")
        want = "polling" if polling else "websocket"
        for p in (pa, pb):
            p.wait_for_function("w => ChatWidget.socket.io.engine.transport.name === w", arg=want)
        times = []
        for i in range(rounds + 3):
            text = f"m{i}"
            t0 = pa.evaluate(SEND, text)
            pb.wait_for_function("t => window.__seen[t] !== undefined", arg=text, timeout=10000)
            t1 = pb.evaluate("t => window.__seen[t]", text)
            if i >= 3:  # the first sends warm up both sides
                times.append(t1 - t0)
            pa.wait_for_timeout(50)
        return times
    finally:
        ca.close()
        cb.close()


def warm_reload(browser, url, rounds):
    a, b = register(url, f"wa{os.getpid()}"), register(url, f"wb{os.getpid()}")
    b.get(url + "/")
    ctx, page = page_for(browser, url, a, [FIRST_ROW])
    try:
        page.goto(url + "/")
        wait_connected(page)
        page.evaluate("id => ChatWidget.open(id)", b.user["id"])
        page.fill("#chat-input", "hello")
        page.press("#chat-input", "Enter")
        page.wait_for_selector(".chat-list li")
        times = []
        for _ in range(rounds):
            page.reload()
            page.wait_for_function("() => window.__firstRow !== null")
            times.append(page.evaluate("window.__firstRow"))
            wait_connected(page)
        return times
    finally:
        ctx.close()


def sizes(url, session):
    html = session.get(url + "/").text
    import re
    urls = [u for u in re.findall(r'(?:href|src)="(/chat/static/[^"]+)"', html)
            if u.split("?")[0].endswith((".js", ".css"))]
    out = {}
    for enc in ("gzip", "br", CHROMIUM_ENCODINGS):
        total = 0
        for u in urls:
            r = session.get(url + u, headers={"Accept-Encoding": enc}, stream=True)
            total += len(r.raw.read())
            r.close()
        out[enc] = total
    raw = sum(len(session.get(url + u, headers={"Accept-Encoding": "identity"}).content) for u in urls)
    out["raw"] = raw
    return out, [u.split("?")[0].rsplit("/", 1)[1] for u in urls]


def cold_3g(browser, url, rounds):
    a = register(url, f"ca{os.getpid()}")
    for name in ("cb", "cc"):
        other = register(url, f"{name}{os.getpid()}")
        ctx, page = page_for(browser, url, a)
        page.goto(url + "/")
        wait_connected(page)
        page.evaluate("id => ChatWidget.open(id)", other.user["id"])
        page.fill("#chat-input", "hi")
        page.press("#chat-input", "Enter")
        page.wait_for_selector(".chat-self .chat-state:text-matches('Sent|Delivered')")
        ctx.close()
    times = []
    for _ in range(rounds):
        ctx, page = page_for(browser, url, a, [FIRST_ROW])
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", THREE_G)
        page.goto(url + "/", wait_until="commit")
        page.wait_for_function("() => window.__firstRow !== null", timeout=30000)
        times.append(page.evaluate("window.__firstRow"))
        ctx.close()
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    with ChatServer() as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium)
        url = server.url
        ws = click_to_shown(browser, url, args.rounds, polling=False)
        poll = click_to_shown(browser, url, args.rounds, polling=True)
        warm = warm_reload(browser, url, max(10, args.rounds // 2))
        size, names = sizes(url, register(url, f"s{os.getpid()}"))
        cold = cold_3g(browser, url, 5)
        browser.close()
    rows = [
        ("click -> shown, WebSocket", f"median {statistics.median(ws):.1f} ms, p90 {pct(ws, 90):.1f} ms",
         "median <= 25 ms"),
        ("click -> shown, polling", f"median {statistics.median(poll):.1f} ms, p90 {pct(poll, 90):.1f} ms",
         "median <= 40 ms"),
        ("warm reload -> first row", f"median {statistics.median(warm):.1f} ms, max {max(warm):.1f} ms",
         "<= 60 ms"),
        ("JS + CSS (" + " + ".join(names) + ")",
         f"as Chromium gets them {size[CHROMIUM_ENCODINGS] / 1024:.1f} KiB (gzip {size['gzip'] / 1024:.1f}, "
         f"br {size['br'] / 1024:.1f}, raw {size['raw'] / 1024:.1f})",
         "<= 40 KB compressed"),
        ("3G cold load -> first row", f"median {statistics.median(cold):.0f} ms, max {max(cold):.0f} ms",
         "<= 1500 ms"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<44}  target {target}")


if __name__ == "__main__":
    main()
