"""Security headers, request-size bounds and proxy trust.

A small ``after_request`` rather than Flask-Talisman: Talisman sets one policy
for the whole app (and redirects to HTTPS by default), while chat embeds into
someone else's site. Chat sets headers on its own responses only; the host's
pages keep the host's policy, and the standalone site asks for the strict page
policy with ``protect_pages``.
"""
import logging

from flask import jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors
from .i18n import _l

log = logging.getLogger("chatapp")

#: Cross-origin isolation of a JSON or image response: nothing may run in it
#: and nobody may frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"


def page_csp():
    """The chat page's policy: scripts, styles and sockets from this origin only."""
    host = request.host
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; "
            f"connect-src 'self' ws://{host} wss://{host}; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def init_app(app, state):
    """Headers and body bounds on chat's own routes; proxy trust when configured."""
    prefix = state.url_prefix + "/"
    limit = app.config["CHAT_MAX_BODY_BYTES"]

    @app.before_request
    def bound_chat_body():
        if request.path.startswith(prefix):
            return refuse_large_body(limit)

    @app.after_request
    def chat_headers(response):
        if request.path.startswith(prefix):
            common_headers(response)
            if response.mimetype != "text/css" and response.mimetype != "text/javascript":
                response.headers.setdefault("Content-Security-Policy", API_CSP)
        return response

    hops = int(app.config["CHAT_PROXY_HOPS"] or 0)
    if hops:
        # Outermost, so Engine.IO and the origin check see the client's scheme and host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops)
    warn_cross_site_cookies(app)


#: Views that bound their own bodies: uploads are held to CHAT_UPLOAD_MAX_BYTES
#: by the upload view, which refuses a declared length before reading and
#: stops a streamed body at the limit.
OWN_BODY_LIMIT = frozenset({"chat.create_upload"})


def refuse_large_body(limit):
    """413 ``too_large`` for a body over ``limit``: a declared length before
    anything is read, a chunked one once a byte past the limit has come."""
    if not limit or request.endpoint in OWN_BODY_LIMIT:
        return None
    length = request.content_length
    if length is None and request.environ.get("wsgi.input_terminated"):
        # Chunked: read one byte past the limit, no more, and keep it for the view.
        request.max_content_length = limit + 1
        length = len(request.get_data(cache=True))
    if length is not None and length > limit:
        exc = errors.too_large(_l("Request bodies are at most %(limit)s bytes.", limit=limit))
        response = jsonify(exc.to_dict())
        response.status_code = exc.status
        return response
    request.max_content_length = limit
    return None


def common_headers(response):
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure or _https():
        h.setdefault("Strict-Transport-Security", HSTS)


def protect_pages(app):
    """The standalone site: every response gets the common headers; HTML pages
    the strict CSP and may not be framed (clickjacking)."""
    @app.before_request
    def bound_body():  # registered before CSRFProtect's, which reads forms
        return refuse_large_body(app.config["CHAT_MAX_BODY_BYTES"])

    @app.after_request
    def page_headers(response):
        common_headers(response)
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", page_csp())
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def _https():
    from flask import current_app
    return bool(current_app.config.get("CHAT_HTTPS"))


def warn_cross_site_cookies(app):
    """Say at start-up when a login cookie would go along with cross-site requests."""
    for key in ("SESSION_COOKIE_SAMESITE", "REMEMBER_COOKIE_SAMESITE"):
        value = app.config.get(key)
        if value is None or str(value).lower() == "none":
            log.warning("%s is %r: browsers send the login cookie with requests from other "
                        "sites. Set app.config[%r] = 'Lax' (chat's JSON writes and sockets "
                        "rely on it against cross-site request forgery).", key, value, key)
