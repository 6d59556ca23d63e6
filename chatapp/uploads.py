"""Uploads: ``POST /api/uploads``, serving the files, removing unsent ones
(``DELETE /api/uploads/<id>`` by their uploader, ``flask chat cleanup`` after a day).

An upload is checked (``filecheck``) before anything is stored, stored under a
random key (``storage``), and recorded in the upload table with its uploader.
Until a message carries it only the uploader may fetch it; then the members
of that message's conversation may. Everyone else, logged in or not, gets 404.
"""
import logging
import secrets
import tempfile
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestedRangeNotSatisfiable
from werkzeug.formparser import parse_form_data
from werkzeug.wsgi import wrap_file

from . import errors, filecheck, storage
from .i18n import _l
from .models import utcnow

log = logging.getLogger("chatapp")

#: Room for the multipart framing around the file (boundaries, part headers,
#: the file name) on top of ``CHAT_UPLOAD_MAX_BYTES`` in a request's length.
MULTIPART_OVERHEAD = 16 << 10

#: Most attachments of one message.
MAX_ATTACHMENTS = 10

#: A send holds its uploads this long at most (a send that died lets go).
CLAIM_TIMEOUT = timedelta(minutes=1)


class Uploads:
    """One app's uploads: where they are stored and what is allowed."""

    def __init__(self, state, app):
        cfg = app.config
        self.state = state
        self.table = state.tables["upload"]
        self.storage = storage.from_config(cfg["CHAT_UPLOAD_STORAGE"], app.instance_path,
                                           cfg["CHAT_UPLOAD_S3"])
        self.max_bytes = int(cfg["CHAT_UPLOAD_MAX_BYTES"])
        self.types = frozenset(cfg["CHAT_UPLOAD_TYPES"])
        self.max_pixels = int(cfg["CHAT_UPLOAD_MAX_PIXELS"])

    def attachment(self, row):
        """The contract's Attachment object of an upload row."""
        url = f"{self.state.url_prefix}/files/{row.id}"
        d = {"id": row.id, "name": row.name, "size": row.size, "type": row.type, "url": url}
        if row.width is not None:
            d.update(width=row.width, height=row.height, thumb_url=url + "/thumb")
        return d

    def create(self, uploader, upload):
        """Check, store and record one uploaded file; its Attachment."""
        checked = filecheck.check(upload.stream, self.types, self.max_pixels)
        key = secrets.token_hex(16)
        try:
            self.storage.save(key, checked.data)
            if checked.thumb:
                self.storage.save(key + ".thumb", checked.thumb[1])
        except Exception:
            self._remove_files(key, checked.thumb)
            raise
        finally:
            checked.data.close()
        row = {"id": key, "uploader_id": uploader, "type": checked.type, "size": checked.size,
               "name": filecheck.safe_name(upload.filename, checked.type),
               "width": checked.width, "height": checked.height,
               "thumb_type": checked.thumb[0] if checked.thumb else None,
               "created_at": utcnow(), "message_id": None, "position": None}
        try:
            with self.state.engine.begin() as conn:
                conn.execute(self.table.insert().values(row))
        except Exception:
            self._remove_files(key, checked.thumb)
            raise
        return self.attachment(SimpleNamespace(**row))

    # -- sending ----------------------------------------------------------
    @staticmethod
    def parse_ids(value):
        """The upload ids of a ``chat-to`` payload's ``attachments``, else ``invalid``."""
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS or not all(
                isinstance(v, str) and len(v) == 32 for v in value) \
                or len(set(value)) != len(value):
            raise errors.invalid(_l("`attachments` must list up to %(count)s different "
                                    "upload ids of yours.", count=MAX_ATTACHMENTS))
        return value

    def claim(self, sender, ids):
        """Hold ``sender``'s unsent uploads ``ids`` for one send; return
        ``(claim token, their Attachments in order)``, else ``invalid``
        (someone else's, already sent, gone, or held by another send)."""
        t = self.table
        token = secrets.token_hex(16)
        now = utcnow()
        with self.state.engine.begin() as conn:
            held = conn.execute(t.update().where(
                t.c.id.in_(ids), t.c.uploader_id == sender, t.c.message_id.is_(None),
                sa.or_(t.c.claim.is_(None), t.c.claimed_at < now - CLAIM_TIMEOUT))
                .values(claim=token, claimed_at=now)).rowcount
            if held != len(ids):  # (leaving the block rolls the claim back)
                raise errors.invalid(_l("`attachments` must list uploads of yours not sent yet."))
            rows = {r.id: r for r in conn.execute(sa.select(t).where(t.c.claim == token))}
        return token, [self.attachment(rows[i]) for i in ids]

    def linker(self, token, ids):
        """What the message store runs in the transaction that stores the
        message: the held uploads become that message's attachments."""
        t = self.table

        def link(conn, message_id):
            for position, upload_id in enumerate(ids):
                linked = conn.execute(
                    t.update().where(t.c.id == upload_id, t.c.claim == token)
                    .values(message_id=message_id, position=position, claim=None)).rowcount
                if linked != 1:
                    # The hold outlived CLAIM_TIMEOUT and the upload was deleted
                    # or taken by another send meanwhile: the message must not
                    # be stored without it (this rolls the whole store back).
                    raise UploadLost(_l("`attachments` must list uploads of yours not sent yet."))
        return link

    def release(self, token):
        """Let go of uploads a send held but did not use (a resend, a failure)."""
        t = self.table
        with self.state.engine.begin() as conn:
            conn.execute(t.update().where(t.c.claim == token, t.c.message_id.is_(None))
                         .values(claim=None, claimed_at=None))

    def for_messages(self, conn, message_ids):
        """``{message id: [Attachment, ...]}`` for the messages that have any."""
        ids = [i for i in dict.fromkeys(message_ids) if i is not None]
        if not ids:
            return {}
        t = self.table
        out = {}
        for row in conn.execute(sa.select(t).where(t.c.message_id.in_(ids))
                                .order_by(t.c.message_id, t.c.position)):
            out.setdefault(row.message_id, []).append(self.attachment(row))
        return out

    def discard(self, uploader, upload_id):
        """``DELETE /api/uploads/<id>``: the uploader takes back an upload not
        sent yet; its row goes, then its file and thumbnail.

        Someone else's or an unknown id is ``not_found``. One that a message
        carries, or that a ``chat-to`` holds right now (a live claim), is
        ``taken``: the row is deleted only where no send holds it, in one
        statement, so a send either claimed it first (and links it: nothing
        is deleted) or finds it gone (``invalid``, nothing stored).
        """
        t = self.table
        if not isinstance(upload_id, str) or len(upload_id) != 32:
            raise errors.not_found(_l("No such upload."))
        with self.state.engine.begin() as conn:
            row = conn.execute(sa.select(t.c.uploader_id, t.c.message_id, t.c.thumb_type)
                               .where(t.c.id == upload_id)).first()
            if row is None or row.uploader_id != uploader:
                raise errors.not_found(_l("No such upload."))
            if row.message_id is not None:
                raise errors.taken(_l("This file was sent in a message: delete the message "
                                      "instead."))
            gone = conn.execute(t.delete().where(
                t.c.id == upload_id, t.c.message_id.is_(None),
                sa.or_(t.c.claim.is_(None), t.c.claimed_at < utcnow() - CLAIM_TIMEOUT))).rowcount
            if not gone:
                raise errors.taken(_l("This file is being sent in a message."))
        self._remove_files(upload_id, row.thumb_type)

    # -- access -----------------------------------------------------------
    def visible(self, user_id, upload_id):
        """The upload row if ``user_id`` may fetch it, else ``None``."""
        if not isinstance(upload_id, str) or len(upload_id) != 32:
            return None
        t = self.table
        with self.state.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == upload_id)).first()
            if row is None or user_id is None:
                return None
            if row.message_id is None:
                return row if row.uploader_id == user_id else None
            m, mb = self.state.table, self.state.tables["member"]
            message = conn.execute(sa.select(m.c.conversation_id, m.c.deleted)
                                   .where(m.c.id == row.message_id)).first()
            if message is None or message.deleted:
                return None  # a deleted message's files go with it
            if row.uploader_id == user_id:
                return row
            member = conn.execute(sa.select(mb.c.user_id).where(
                mb.c.conversation_id == message.conversation_id,
                mb.c.user_id == user_id)).first()
            return row if member is not None else None

    def cleanup(self, older_than=86400, batch=500):
        """Remove uploads never sent and older than ``older_than`` seconds."""
        t = self.table
        cutoff = utcnow() - timedelta(seconds=older_than)
        return self.remove_where(sa.and_(t.c.message_id.is_(None), t.c.created_at < cutoff), batch)

    def remove_where(self, condition, batch=500):
        """Remove the uploads matching ``condition`` (on the upload table), rows
        first, then their files; return how many went."""
        t = self.table
        removed = 0
        while True:
            with self.state.engine.begin() as conn:
                rows = conn.execute(sa.select(t.c.id, t.c.thumb_type).where(condition)
                                    .limit(batch)).all()
                # Each row goes only if it still matches: a send racing with
                # us either linked it (it stays) or finds it gone (``invalid``).
                gone = [r for r in rows if conn.execute(
                    t.delete().where(t.c.id == r.id, condition)).rowcount]
            for row in gone:
                self._remove_files(row.id, row.thumb_type)
            removed += len(gone)
            if len(rows) < batch:
                return removed

    def _remove_files(self, key, thumb):
        for name in (key, key + ".thumb") if thumb else (key,):
            try:
                self.storage.delete(name)
            except Exception:
                log.exception("could not remove stored file %s", name)


class UploadLost(errors.ChatError):
    """A send's held upload was no longer its own when the message was stored."""

    def __init__(self, message):
        super().__init__("invalid", message, 400)


class _CappedFile(tempfile.SpooledTemporaryFile):
    """The form parser's file for a part: refuses to grow past the limit."""

    def __init__(self, limit):
        super().__init__(max_size=1 << 20)
        self.limit, self.written = limit, 0

    def write(self, data):
        self.written += len(data)
        if self.written > self.limit:
            raise RequestEntityTooLarge()
        return super().write(data)


def _too_large(limit):
    return errors.too_large(_l("Files are at most %(limit)s bytes.", limit=limit))


def _uploaded_file(limit):
    """The request's ``file`` part, read while it streams in and never past
    the limit; a declared length over it is refused before reading anything."""
    declared = request.content_length
    if declared is not None and declared > limit + MULTIPART_OVERHEAD:
        raise _too_large(limit)
    if request.mimetype != "multipart/form-data":
        raise errors.unsupported(_l("Send the file as multipart/form-data, in the field `file`."))
    made = []

    def capped(*args, **kwargs):
        made.append(_CappedFile(limit))
        return made[-1]

    try:
        # (max_form_memory_size also bounds the parser's buffer between two
        # reads of 64 KiB, so it must be well above that.)
        _, _, files = parse_form_data(
            request.environ, stream_factory=capped,
            max_content_length=limit + MULTIPART_OVERHEAD, max_form_memory_size=1 << 20,
            max_form_parts=16, silent=False)
        upload = files.get("file")
        if upload is None:
            raise errors.invalid(_l("Send the file in the field `file`."))
    except BaseException as exc:
        for f in made:
            f.close()
        if isinstance(exc, RequestEntityTooLarge):
            raise _too_large(limit) from None
        if isinstance(exc, ValueError):
            raise errors.invalid(_l("The multipart body could not be read.")) from None
        raise
    for f in made:
        if f is not upload.stream:
            f.close()
    return upload


def receive(state, uploader):
    """``POST /api/uploads``: the Attachment of the request's checked and stored file."""
    upload = _uploaded_file(state.uploads.max_bytes)
    try:
        return state.uploads.create(uploader, upload)
    finally:
        upload.close()


def discard(state, uploader, upload_id):
    """``DELETE /api/uploads/<id>``: see ``Uploads.discard``."""
    state.uploads.discard(uploader, upload_id)


def serve(state, viewer, upload_id, thumb=False):
    """The response to ``GET <url>`` (or its thumbnail) for ``viewer`` (a
    user id, ``None`` when not logged in): the file, or 404 to whoever may
    not see it."""
    row = state.uploads.visible(viewer, upload_id)
    if row is None or (thumb and not row.thumb_type):
        return errors.response(errors.not_found())
    key = row.id + ".thumb" if thumb else row.id
    try:
        f = state.uploads.storage.open(key)
    except Exception:
        log.exception("stored file %s cannot be read", key)
        return errors.response(errors.not_found())
    size = f.seek(0, 2)
    f.seek(0)
    kind = row.thumb_type if thumb else row.type
    resp = Response(wrap_file(request.environ, f, buffer_size=64 << 10), mimetype=kind,
                    direct_passthrough=True)
    resp.content_length = size
    inline = kind in filecheck.INLINE_TYPES
    resp.headers.set("Content-Disposition", "inline" if inline else "attachment",
                     **_filename_params(row.name))
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # Opened on its own, a file is a sandboxed document with nothing to run.
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; " \
                                              "style-src 'unsafe-inline'"
    resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    # Stored files never change (new content gets a new key), but who may see
    # one can: browsers keep it and ask again each time, cheaply (304).
    resp.cache_control.private = True
    resp.cache_control.no_cache = True
    resp.set_etag(key)
    resp.last_modified = row.created_at
    try:
        resp = resp.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        f.close()
        raise
    if resp.status_code == 304:
        f.close()
    return resp


def _filename_params(name):
    """``filename`` (ASCII) and ``filename*`` (RFC 5987), as Werkzeug's send_file."""
    import unicodedata
    from urllib.parse import quote

    try:
        name.encode("ascii")
        return {"filename": name}
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        return {"filename": simple or "file", "filename*": f"UTF-8''{quote(name, safe='')}"}


def init_app(app, state):
    state.uploads = Uploads(state, app)

