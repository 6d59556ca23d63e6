"""What an uploaded file really is, decided from its bytes, and a safe copy of it.

Nothing here trusts the name or the declared type. Images are decoded and
encoded again with Pillow, so what is stored is pixels and nothing else: no
EXIF (GPS position), no comments, no HTML hidden in a chunk. PDFs are
recognised by libmagic; plain text by the browsers' own sniffing rules, so a
file a browser would render as HTML is never "plain text".
"""
import io
import os
import tempfile
import unicodedata

import magic
from PIL import Image, ImageOps

from . import errors
from .i18n import _l

#: Raster types that may be shown inline; everything else is a download.
INLINE_TYPES = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp"))
_PIL_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
_EXTENSIONS = {
    "image/png": (".png",), "image/jpeg": (".jpg", ".jpeg"), "image/gif": (".gif",),
    "image/webp": (".webp",), "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".log", ".md", ".csv"),
}
THUMB_SIZE = 320
_ORIENTATION = 0x0112
MAX_NAME = 200  # code points, extension included

# WHATWG MIME Sniffing: bytes that make a resource binary, and the patterns
# that make a browser treat an unlabelled resource as HTML or XML.
_BINARY = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B))
_SCRIPTABLE = (b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV",
               b"<FONT", b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR",
               b"<P", b"<!--")
_MARKUP_TYPES = ("text/html", "text/xml", "application/xml", "image/svg+xml",
                 "application/xhtml+xml")


class Checked:
    """A file that passed: its type, the bytes to store and, for images, more."""

    def __init__(self, type, data, width=None, height=None, thumb=None):
        self.type, self.data = type, data
        self.width, self.height, self.thumb = width, height, thumb
        data.seek(0, os.SEEK_END)
        self.size = data.tell()
        data.seek(0)


def check(fileobj, allowed, max_pixels):
    """The ``Checked`` form of ``fileobj`` (seekable), else ``unsupported``/``too_large``."""
    fileobj.seek(0)
    head = fileobj.read(8192)
    fileobj.seek(0)
    if not head:
        raise errors.invalid(_l("The file is empty."))
    found = magic.from_buffer(head, mime=True)
    if found in _PIL_TYPES.values():
        return _image(fileobj, found, allowed, max_pixels)
    if found == "application/pdf" and head.lstrip()[:5] == b"%PDF-":
        return _allowed(Checked("application/pdf", fileobj), allowed)
    if found not in _MARKUP_TYPES and is_plain_text(fileobj):
        return _allowed(Checked("text/plain", fileobj), allowed)
    raise errors.unsupported(_l("Files of this type (%(type)s) cannot be sent.", type=found))


def _allowed(checked, allowed):
    if checked.type not in allowed:
        raise errors.unsupported(_l("Files of this type (%(type)s) cannot be sent.", type=checked.type))
    return checked


def is_plain_text(fileobj):
    """Plain text as browsers sniff it: no binary bytes, nothing that starts
    like HTML or XML. The whole file is read (in blocks), not only its head."""
    fileobj.seek(0)
    head = fileobj.read(1445).lstrip(b"\t\n\x0c\r ")
    fileobj.seek(0)
    upper = head.upper()
    if upper.startswith(b"<?XML"):
        return False
    for pattern in _SCRIPTABLE:
        if upper.startswith(pattern) and upper[len(pattern):len(pattern) + 1] in (b" ", b">"):
            return False
    while True:
        block = fileobj.read(1 << 20)
        if not block:
            break
        if len(block.translate(None, _BINARY)) != len(block):
            fileobj.seek(0)
            return False
    fileobj.seek(0)
    return True


def _image(fileobj, declared, allowed, max_pixels):
    """Decode, check and encode again; refuse bombs before decoding them."""
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    try:
        with Image.open(fileobj) as im:
            kind = _PIL_TYPES.get(im.format)
            if kind is None or kind not in allowed:
                raise errors.unsupported(_l("Images of this type (%(type)s) cannot be sent.", type=im.format))
            frames = getattr(im, "n_frames", 1)
            if im.width * im.height * frames > limit:
                raise _too_many_pixels(limit)
            return _reencode(im, kind)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(limit) from None
    except (OSError, SyntaxError, ValueError, EOFError):  # Pillow's "cannot read this"
        raise errors.unsupported(_l("The image could not be read.")) from None


def _too_many_pixels(limit):
    return errors.too_large(_l("Images are at most %(count)s megapixels.", count=limit // 1_000_000))


def _reencode(im, kind):
    animated = getattr(im, "is_animated", False) and kind in ("image/gif", "image/webp")
    if animated:
        im.seek(0)
        first = im.copy()
    else:
        im.load()
        # The camera's orientation becomes the pixels' own, as the tag goes
        # away (exif_transpose copies the image even when there is nothing to do).
        turned = im.getexif().get(_ORIENTATION, 1) not in (None, 1)
        first = ImageOps.exif_transpose(im) if turned else im
    out = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    options = {}
    if im.info.get("icc_profile"):
        options["icc_profile"] = im.info["icc_profile"]  # colours, not metadata
    if kind == "image/jpeg":
        if first.mode not in ("RGB", "L", "CMYK"):
            first = first.convert("RGB")
        first.save(out, "JPEG", quality=90, **options)
    elif kind == "image/png":
        first.save(out, "PNG", **options)
    elif kind == "image/gif":
        if animated:
            im.save(out, "GIF", save_all=True)
        else:
            first.save(out, "GIF")
    else:
        if animated:
            im.save(out, "WEBP", save_all=True, quality=90)
        else:
            first.save(out, "WEBP", quality=90, **options)
    return Checked(kind, out, first.width, first.height, _thumbnail(first))


def _thumbnail(im):
    """At most THUMB_SIZE on the longer side; JPEG, or PNG where there is alpha."""
    scale = min(1.0, THUMB_SIZE / max(im.width, im.height))
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    # Straight from the full image, reducing by whole factors first (fast).
    thumb = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0) \
        if scale < 1 else im.copy()
    out = io.BytesIO()
    if thumb.mode in ("RGBA", "LA", "PA") or "transparency" in thumb.info:
        thumb.convert("RGBA").save(out, "PNG")
        kind = "image/png"
    else:
        thumb.convert("RGB").save(out, "JPEG", quality=80)
        kind = "image/jpeg"
    out.seek(0)
    return kind, out


def safe_name(raw, kind):
    """A file name to show and to download under: no folders, no control or
    invisible characters, at most MAX_NAME code points, an extension that
    matches the content (``evil.html`` holding text becomes ``evil.html.txt``)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    stem, ext = os.path.splitext(name)
    if ext.lower() not in _EXTENSIONS.get(kind, ()):
        stem, ext = name, _EXTENSIONS.get(kind, (".bin",))[0]
    stem = stem[:MAX_NAME - len(ext)].rstrip() or "file"
    return stem + ext
