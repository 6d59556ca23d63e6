"""Default settings. ``Chat.init_app`` copies each ``CHAT_*`` value into
``app.config`` with ``setdefault``, so a host or ``instance/config.py`` wins."""

#: Longest message, in Unicode code points after stripping.
CHAT_MAX_MESSAGE_LENGTH = 2000

#: Messages per history page when the client does not say ``limit``.
CHAT_HISTORY_PAGE_SIZE = 20

#: Largest ``limit`` a history request may ask for.
CHAT_HISTORY_MAX_PAGE = 100

#: ``chat-to`` sends allowed per user in any 10 seconds (counted in Redis,
#: across processes, when ``CHAT_MESSAGE_QUEUE`` is set); ``0`` turns it off.
CHAT_RATE_LIMIT = 50

#: Origins, besides the page's own, allowed to open chat sockets.
CHAT_ALLOWED_ORIGINS = ()

#: Socket.IO message queue URL (``redis://...``); ``None`` runs one process.
CHAT_MESSAGE_QUEUE = None

#: Where the chat blueprint is mounted.
CHAT_URL_PREFIX = "/chat"

#: Prefix of chat's table names in the host's database.
CHAT_TABLE_PREFIX = "chat_"

#: Socket.IO namespace of the chat.
CHAT_NAMESPACE = "/chat"

#: Attribute of the host's user object that holds the name shown in chat;
#: ``None`` tries ``username``, then ``name``.
CHAT_USER_NAME_ATTR = None

#: Redis channel (and presence key prefix) of the queue; sites that share
#: one Redis choose their own (Flask-SocketIO's default name otherwise).
CHAT_QUEUE_CHANNEL = "flask-socketio"

#: Seconds a process's presence entries live in Redis without a heartbeat.
CHAT_PRESENCE_TTL = 30

#: Users listed by ``GET /api/users`` when the client does not say ``limit``.
CHAT_USER_SEARCH_LIMIT = 20

#: Commit the messages that arrive together in one transaction.
CHAT_GROUP_COMMIT = True

#: Most messages one group commit writes.
CHAT_GROUP_COMMIT_MAX = 256

#: SQLite only: ``PRAGMA synchronous`` with WAL. ``FULL`` makes every
#: acknowledged message survive a power cut; ``NORMAL`` survives a crash of
#: the process only; ``None`` leaves the database as it is.
CHAT_SQLITE_SYNCHRONOUS = "FULL"

#: Largest request body of chat's JSON endpoints (and of the standalone site's
#: forms): a longer declared ``Content-Length`` is answered 413 ``too_large``
#: before the body is read. ``0`` leaves it to ``MAX_CONTENT_LENGTH``.
CHAT_MAX_BODY_BYTES = 64 * 1024

#: Engine.IO's ``max_http_buffer_size`` when chat makes the Socket.IO server:
#: the largest packet (WebSocket message or polling POST) a client may send.
#: A ``chat-to`` at the longest message length is under 13 KB.
CHAT_SOCKET_MAX_BYTES = 64 * 1024

#: Proxies in front of the app whose ``X-Forwarded-For/-Proto/-Host/-Port``
#: are trusted (Werkzeug's ``ProxyFix``); ``0`` ignores those headers.
CHAT_PROXY_HOPS = 0

#: Send the widget's JS and CSS minified (rjsmin / rcssmin) instead of the
#: readable source on disk; ``None``: on unless the app runs in debug mode.
CHAT_MINIFY_ASSETS = None

#: Served over HTTPS: the standalone site's cookies get ``Secure`` and every
#: response ``Strict-Transport-Security`` (sent anyway on HTTPS requests).
CHAT_HTTPS = False
#: Group conversations (contract v2.0); ``False`` offers direct chat only.
CHAT_GROUPS = True

#: Most members of a group, its owner included.
CHAT_GROUP_MAX_MEMBERS = 256

#: Seconds after sending during which a message may be edited; ``0``: always.
CHAT_EDIT_WINDOW = 0

#: Bring chat's tables to this release's schema when the app starts (runs
#: chat's Alembic revisions). Off by default for a host, which runs
#: ``flask chat db-upgrade`` (or its own migrations) when it deploys.
CHAT_MIGRATE_ON_START = False

#: Largest uploaded file, in bytes; a request declaring more is refused
#: before its body is read, and a body is never read past it.
CHAT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024

#: Types that may be uploaded, decided from the content (never the name):
#: any of these six.
CHAT_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp",
                     "application/pdf", "text/plain")

#: Largest image (width x height x frames) decoded; more is refused as
#: ``too_large`` before any pixel is decoded (decompression bombs).
CHAT_UPLOAD_MAX_PIXELS = 50_000_000

#: Where uploads are stored: ``None`` = folder ``chat-uploads`` in the
#: instance folder; a folder path; ``s3://bucket/prefix``; or a storage object.
CHAT_UPLOAD_STORAGE = None

#: Extra boto3 client options for ``s3://`` storage (``endpoint_url``,
#: ``region_name``, ...); credentials come from boto3's usual places.
CHAT_UPLOAD_S3 = {}

#: Search: callers whose conversations hold at most this many messages are
#: answered by reading those (cheaper than the index's common matches); above
#: it, by the database's trigram index. ``0``: always the index.
CHAT_SEARCH_SCAN_MAX = 20_000

#: Languages offered (BCP 47 tags, e.g. ``["en", "zh-Hans"]``); ``None`` offers
#: every language chat has a catalog for (English and Simplified Chinese).
CHAT_LANGUAGES = None

#: The language when neither the host, the ``chat_lang`` cookie nor
#: ``Accept-Language`` picks an offered one.
CHAT_DEFAULT_LANGUAGE = "en"

CHAT_DEFAULTS = {k: v for k, v in dict(globals()).items() if k.startswith("CHAT_")}
