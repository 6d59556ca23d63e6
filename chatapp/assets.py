"""The widget's static files as browsers should get them.

- Fingerprinted URLs: ``url_for("chat.static", filename=...)`` adds ``v=<hash of
  the file's content>``, so a changed file gets a new URL.
- A fingerprinted request is cached for a year as immutable; any other static
  request keeps Flask's default (revalidate with the ETag).
- Minified: ``.js`` and ``.css`` files are sent through rjsmin / rcssmin
  (comments and white space out, about a quarter fewer bytes after
  compression), once per file version, kept in memory. The files on disk
  stay the readable source; ``CHAT_MINIFY_ASSETS`` (default: on unless the
  app runs in debug mode) turns it off or on.
- Compression (gzip, or Brotli/zstd where the browser takes them) by
  Flask-Compress, applied only to the chat blueprint's responses: its static
  files and JSON API. Engine.IO's polling responses never pass through Flask,
  so they are left as they are. ``CHAT_COMPRESS = False`` turns it off (e.g.
  when a proxy compresses instead). The ``COMPRESS_*`` settings below are
  defaults only: a site's own values win.
"""
import hashlib
import os

import rcssmin
import rjsmin
from flask import current_app, request
from flask_compress import Compress

YEAR = 365 * 24 * 3600
STATIC_ENDPOINT = "chat.static"
COMPRESS_DEFAULTS = {
    "COMPRESS_MIMETYPES": ["text/html", "text/css", "application/javascript",
                           "text/javascript", "application/json", "image/svg+xml"],
    "COMPRESS_MIN_SIZE": 500,
    # Brotli at 5 is as quick as gzip at 6 and 3 KiB smaller on the widget's
    # files; zstd at its default level comes out larger than both.
    "COMPRESS_ALGORITHM": ["br", "gzip", "deflate"],
    "COMPRESS_BR_LEVEL": 5,
}


MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}


def init_app(app, static_folder):
    app.config.setdefault("CHAT_COMPRESS", True)
    app.config.setdefault("CHAT_MINIFY_ASSETS", None)  # None: on unless debug
    derived = {}  # (what, path) -> ((mtime, size), value)

    def per_version(what, filename, compute):
        """``compute(bytes)`` of a static file, once per version of it (its
        modification time and size); None if there is no such file."""
        path = os.path.join(static_folder, filename)
        try:
            stat = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        mark = (stat.st_mtime_ns, stat.st_size)
        known = derived.get((what, path))
        if known is None or known[0] != mark:
            with open(path, "rb") as f:
                known = derived[(what, path)] = (mark, compute(f.read()))
        return known[1]

    def fingerprint(filename):
        return per_version("hash", filename,
                           lambda data: hashlib.sha256(data).hexdigest()[:12])

    def minify(filename):
        """The minified bytes of a static .js/.css file, or None."""
        minifier = MINIFIERS.get(os.path.splitext(filename)[1])
        if minifier is None:
            return None
        return per_version("min", filename,
                           lambda data: minifier(data.decode("utf-8")).encode("utf-8"))

    def minify_on():
        on = current_app.config["CHAT_MINIFY_ASSETS"]
        return (not current_app.debug) if on is None else bool(on)

    @app.url_defaults
    def add_fingerprint(endpoint, values):
        if endpoint == STATIC_ENDPOINT and "v" not in values and values.get("filename"):
            digest = fingerprint(values["filename"])
            if digest:
                values["v"] = digest

    compress = None
    if app.config["CHAT_COMPRESS"]:
        for key, value in COMPRESS_DEFAULTS.items():
            app.config.setdefault(key, value)
        app.config.setdefault("COMPRESS_REGISTER", False)
        compress = Compress()
        compress.init_app(app)

    @app.after_request
    def deliver(response):
        if request.blueprint != "chat":
            return response
        if request.endpoint == STATIC_ENDPOINT and response.status_code in (200, 304):
            wanted = request.args.get("v")
            if wanted and wanted == fingerprint(request.view_args.get("filename", "")):
                response.cache_control.no_cache = None
                response.cache_control.public = True
                response.cache_control.max_age = YEAR
                response.cache_control.immutable = True
            if response.status_code == 200 and minify_on():
                small = minify(request.view_args.get("filename", ""))
                if small is not None:
                    # Same file, same bytes: Flask's ETag (of the file) stays valid.
                    opened = getattr(response.response, "close", None)
                    response.direct_passthrough = False
                    response.set_data(small)
                    if opened:
                        opened()  # the file Flask had opened to send
            if response.status_code == 200 and compress is not None:
                # Read the (small) file so it is compressed whole, gzip included,
                # rather than streamed with the streaming-only algorithms.
                response.direct_passthrough = False
                response.make_sequence()
        if compress is not None:
            response = compress.after_request(response)
        return response
