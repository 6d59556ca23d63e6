"""Files for upload tests, made with Pillow and by hand, and a multipart helper."""
import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(size=(1200, 800), orientation=None):
    """A JPEG whose EXIF carries a GPS position (and maybe an orientation)."""
    im = Image.new("RGB", size, (200, 30, 30))
    im.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 4))  # a corner to find again
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


def png(size=(64, 48), mode="RGB", text=None):
    im = Image.new(mode, size, "green")
    out = io.BytesIO()
    if text:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", text)
        im.save(out, "PNG", pnginfo=info)
    else:
        im.save(out, "PNG")
    return out.getvalue()


def image(fmt, size=(40, 30), **kw):
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, fmt, **kw)
    return out.getvalue()


def png_header_only(width, height):
    """A PNG that declares ``width`` x ``height`` and holds almost nothing:
    a pixel bomb, refused from its header alone."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def pdf():
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def zip_bomb():
    """A zip of 10 MB of zeros, about 10 KB on the wire."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.txt", b"\x00" * (10 << 20))
    return out.getvalue()


def multipart(content, filename="f.bin", field="file", boundary="----chattestboundary"):
    """A multipart/form-data body and its content type, built by hand so tests
    control every byte (and can send it chunked or with a false length)."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    body = head.encode("utf-8") + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
