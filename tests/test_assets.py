"""The widget's files: fingerprinted, cached for a year, compressed; Engine.IO
polling left alone (problem 11 of the "widget people trust" report)."""
import gzip
import re

import pytest
import requests

pytestmark = pytest.mark.server
PASSWORD = "correct horse 1"


def asset_urls(html):
    return re.findall(r'(?:href|src)="(/chat/static/[^"]+)"', html)


def test_page_links_fingerprinted_files_cached_for_a_year(client):
    client.post("/auth/register", json={"username": "alice", "password": PASSWORD})
    html = client.get("/").get_data(as_text=True)
    urls = asset_urls(html)
    names = {u.split("?")[0].rsplit("/", 1)[1] for u in urls}
    assert {"chat.css", "chat.js", "socket.io.min.js", "favicon.svg"} <= names, urls
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        with client.get(url, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status_code == 200
            cc = r.headers["Cache-Control"]
            assert "max-age=31536000" in cc and "immutable" in cc and "no-cache" not in cc, cc
            if not url.split("?")[0].endswith(".svg"):
                assert r.headers.get("Content-Encoding") == "gzip", url
                assert len(gzip.decompress(r.get_data())) > len(r.get_data())

    # Without the fingerprint (or with a stale one) the file is revalidated as before.
    for url in ("/chat/static/chat.js", "/chat/static/chat.js?v=000000000000"):
        with client.get(url) as r:
            cc = r.headers.get("Cache-Control", "")
        assert "immutable" not in cc and "max-age=31536000" not in cc


def test_json_compressed_and_polling_untouched(live_server):
    s = requests.Session()
    assert s.post(live_server.url + "/auth/register",
                  json={"username": "bob", "password": PASSWORD}).status_code == 201
    r = s.get(live_server.url + "/chat/api/users?q=&limit=20", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    js = s.get(live_server.url + [u for u in asset_urls(s.get(live_server.url + "/").text)
                                  if "chat.js" in u][0], headers={"Accept-Encoding": "gzip, br"})
    assert js.headers["Content-Encoding"] in ("gzip", "br")
    poll = s.get(live_server.url + "/socket.io/?EIO=4&transport=polling",
                 headers={"Accept-Encoding": "gzip, br"})
    assert poll.status_code == 200 and poll.text.startswith("0{")
    assert "Content-Encoding" not in poll.headers
    assert "Accept-Encoding" not in poll.headers.get("Vary", "")


def test_js_and_css_are_sent_minified_and_revalidate(client):
    """The served widget is the source minus comments and spacing; its ETag
    still answers 304; the files on disk stay readable."""
    from pathlib import Path
    static = Path(__file__).resolve().parent.parent / "chatapp" / "static"
    for name in ("chat.js", "chat.css", "chat-i18n.js", "i18n/zh-Hans.js"):
        source = (static / name).read_bytes()
        with client.get(f"/chat/static/{name}") as r:
            assert r.status_code == 200
            body, etag = r.get_data(), r.headers["ETag"]
        assert len(body) < 0.9 * len(source), name
        assert b"\n  //" not in body and b"/* " not in body[:2000], name
        if name.endswith(".js"):
            # The program's strings survive whole (catalog ids and words).
            code = b"\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith((b"*", b"//", b"/*")))
            for literal in re.findall(rb"'[a-z_]{6,}'", code)[:40]:
                assert literal in body, (name, literal)
        with client.get(f"/chat/static/{name}", headers={"If-None-Match": etag}) as r:
            assert r.status_code == 304


def test_minifying_can_be_turned_off(app):
    app.config["CHAT_MINIFY_ASSETS"] = False
    from pathlib import Path
    source = (Path(__file__).resolve().parent.parent / "chatapp/static/chat.js").read_bytes()
    with app.test_client() as c, c.get("/chat/static/chat.js") as r:
        assert r.get_data() == source
