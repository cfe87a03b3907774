"""Provenance inside the image files figbuild writes: an XMP packet that standard tools read.

Every image figbuild writes (generated, a candidate, restored, picked, converted, a
placeholder) carries one XMP packet: IPTC's digital source type for an image the API
made (``trainedAlgorithmicMedia``; ``compositeWithTrainedAlgorithmicMedia`` for a hand
edit of one that figbuild writes again), the model, the task id, the request's
fingerprint and the generation time. A placeholder or an emulator image carries
``figbuild:provisional`` instead, and no AI source type: it was not made by a model.

PNG gets an ``iTXt`` chunk with the keyword ``XML:com.adobe.xmp`` and JPEG an APP1
segment, both inserted into the bytes as they are (stdlib: no pixel is decoded or
re-encoded, so a JPEG loses no quality and a 4K PNG costs no decode; Pillow can only
write XMP while re-encoding). PDF gets a ``/Metadata`` stream in its catalog, written
by pikepdf (qpdf), imported only here and only when a PDF is stamped.

Stamping is idempotent and deterministic: the same image and the same facts give the
same bytes, so the history store's content addressing and "never pay twice" hold.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from figbuild import __version__
from figbuild.records import frozen

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
#: figbuild's own XMP namespace (its properties, like ``figbuild:model``).
NAMESPACE = "https://paperbanana.run/ns/figbuild/1.0/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
SERVICE = "Paper Banana API"
#: How an image is made that only stands in for a real one.
PROVISIONAL = frozenset({"placeholder", "emulator"})
_MADE = frozenset({"generated", "candidate"})

_PNG_KEY = b"XML:com.adobe.xmp"
_JPEG_KEY = b"http://ns.adobe.com/xap/1.0/\x00"
#: The most an XMP packet is looked for in (it sits near the start of PNG and JPEG).
_HEAD = 1 << 20


@frozen
class Provenance:
    """What an image says about itself. ``how``: generated, candidate, composite (a hand
    edit of a generated image), placeholder or emulator."""

    how: str
    model: str | None = None
    task_id: str | None = None
    fingerprint: str | None = None
    generated_at: str | None = None
    resolution: str | None = None
    candidate: int | None = None

    @property
    def provisional(self) -> bool:
        return self.how in PROVISIONAL

    @property
    def source_type(self) -> str | None:
        """IPTC's digital source type, or None for an image no model made."""
        if self.provisional:
            return None
        return COMPOSITE if self.how == "composite" else TRAINED


def packet(provenance: Provenance) -> bytes:
    """The XMP packet (UTF-8) describing ``provenance``."""
    attributes = {"xmp:CreatorTool": f"figbuild {__version__}"}
    if provenance.provisional:
        attributes["figbuild:provisional"] = provenance.how
    else:
        assert provenance.source_type is not None
        attributes["Iptc4xmpExt:DigitalSourceType"] = provenance.source_type
        attributes["figbuild:service"] = SERVICE
    facts = {
        "how": provenance.how,
        "model": provenance.model,
        "taskId": provenance.task_id,
        "fingerprint": provenance.fingerprint,
        "generatedAt": provenance.generated_at,
        "resolution": provenance.resolution,
        "candidate": None if provenance.candidate is None else str(provenance.candidate),
    }
    if provenance.provisional:  # no model made it: name none, so no tool reads one
        facts = {k: facts[k] for k in ("how", "fingerprint", "generatedAt")}
    attributes.update({f"figbuild:{k}": v for k, v in facts.items() if v is not None})
    if provenance.model and not provenance.provisional:
        attributes["Iptc4xmpExt:AISystemUsed"] = provenance.model
    if provenance.generated_at:
        attributes["xmp:CreateDate"] = provenance.generated_at
    from xml.sax.saxutils import escape  # lazily: it loads urllib.request, http.client, email

    body = "".join(
        f'\n    {name}="{escape(value, {chr(34): "&quot;"})}"' for name, value in attributes.items()
    )
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT}"\n'
        f'    xmlns:figbuild="{NAMESPACE}"{body}/>\n'
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )
    return text.encode("utf-8")


# -- writing ---------------------------------------------------------------------


def stamp(data: bytes, fmt: str, provenance: Provenance) -> bytes:
    """``data`` (an image in Pillow format ``fmt``) with its XMP replaced by ``provenance``'s."""
    xmp = packet(provenance)
    if fmt == "PNG":
        return _png(data, xmp)
    if fmt == "JPEG":
        return _jpeg(data, xmp)
    if fmt == "PDF":
        return _pdf(data, xmp)
    return data


def stamp_file(handle: BinaryIO, path: Path, fmt: str, provenance: Provenance, *, keep: bool = False) -> None:
    """Stamp the image at ``path`` (open as ``handle``, a staged temp file) in place.

    ``keep``: leave an image alone that already says it was made this way (an image put
    back from history keeps the bytes, and so the hash, it was stored with).
    """
    handle.flush()
    data = path.read_bytes()
    stamped = restamp(data, fmt, provenance) if keep else stamp(data, fmt, provenance)
    if stamped != data:
        handle.seek(0)
        handle.truncate()
        handle.write(stamped)
        handle.flush()


def restamp(data: bytes, fmt: str, provenance: Provenance) -> bytes:
    """``data`` as it is if it already says it was made as ``provenance`` says, else stamped."""
    found = read(data)
    if found is not None and found.how == provenance.how and found.source_type == provenance.source_type:
        return data
    return stamp(data, fmt, provenance)


def for_stored(stored: Provenance, found: Provenance | None, unmodified: bool) -> Provenance | None:
    """The provenance to write an image from history with, or None to leave it as it is.

    ``stored``: the store's facts about it (its ``how``, model, task...); ``found``: what
    its bytes carry; ``unmodified``: its bytes are those of an image the API made. An
    image that already says how it was made keeps its bytes; an accepted hand edit of a
    generated image becomes a composite; an image of unknown origin is left alone.
    """
    from dataclasses import replace

    how = stored.how
    if how in PROVISIONAL:
        if found is not None and found.provisional:
            return found
        return Provenance(how, fingerprint=stored.fingerprint)
    if how in _MADE:
        return found if found is not None and found.source_type == TRAINED else stored
    # restored, accepted, hand-edit: what the bytes say, if anything.
    if found is None:
        return replace(stored, how="generated") if how == "restored" and stored.model else None
    return found if found.provisional or unmodified else edited(found)


def _png(data: bytes, xmp: bytes) -> bytes:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    body = _PNG_KEY + b"\x00\x00\x00\x00\x00" + xmp  # keyword, uncompressed, no language
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, end = data[pos + 4 : pos + 8], pos + 12 + length
        if not (kind == b"iTXt" and data[pos + 8 : pos + 8 + len(_PNG_KEY) + 1] == _PNG_KEY + b"\x00"):
            out.append(data[pos:end])
        if kind == b"IHDR":
            out.append(chunk)
        pos = end
    return b"".join(out)


def _jpeg(data: bytes, xmp: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8") or len(xmp) + len(_JPEG_KEY) + 2 > 0xFFFF:
        return data
    segment = b"\xff\xe1" + struct.pack(">H", len(_JPEG_KEY) + len(xmp) + 2) + _JPEG_KEY + xmp
    kept, pos = [], 2
    # The leading APPn/COM segments: an old XMP segment is dropped, ours goes after the rest.
    while pos + 4 <= len(data) and data[pos] == 0xFF and _leading(data[pos + 1]):
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if not (data[pos + 1] == 0xE1 and data[pos + 4 : pos + 4 + len(_JPEG_KEY)] == _JPEG_KEY):
            kept.append(data[pos:end])
        pos = end
    return b"".join([b"\xff\xd8", *kept, segment, data[pos:]])


def _leading(marker: int) -> bool:
    """An APPn or COM marker: the segments before the image data proper."""
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def _pdf(data: bytes, xmp: bytes) -> bytes:
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.Root.Metadata = pdf.make_stream(xmp, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
        out = io.BytesIO()
        # The packet stays uncompressed (readable by any tool, as PDF/A asks); the same
        # input gives the same bytes (a deterministic /ID).
        pdf.save(out, compress_streams=False, deterministic_id=True)
    return out.getvalue()


# -- reading ---------------------------------------------------------------------

_PACKET = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta>", re.DOTALL)
_ATTRIBUTE = re.compile(r'(?:figbuild|Iptc4xmpExt):(\w+)="([^"]*)"')
_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_ELEMENT = re.compile(r"<(?:figbuild|Iptc4xmpExt):(\w+)>([^<]*)</")


def read(data: bytes) -> Provenance | None:
    """What figbuild's XMP packet in ``data`` says, or None when it has none (stdlib only)."""
    found = None
    for match in _PACKET.finditer(data):
        if NAMESPACE.encode() in match.group(0):
            found = match.group(0)  # a PDF updated in place: the last one counts
    if found is None:
        return None
    # Read with patterns, not an XML parser: the bytes come from elsewhere (an editor, the
    # API), and only figbuild's own properties matter, as attributes or as elements.
    text = found.decode("utf-8", "replace")
    from xml.sax.saxutils import unescape  # lazily: it loads urllib.request, http.client, email

    values = {name: unescape(value, _ENTITIES) for name, value in _ATTRIBUTE.findall(text)}
    values.update((name, unescape(value.strip(), _ENTITIES)) for name, value in _ELEMENT.findall(text))
    source_type = values.pop("DigitalSourceType", None)
    how = values.get("provisional") or values.get("how")
    if how is None:
        how = "composite" if source_type == COMPOSITE else "generated"
    candidate = values.get("candidate", "")
    return Provenance(
        how=how,
        model=values.get("model"),
        task_id=values.get("taskId"),
        fingerprint=values.get("fingerprint"),
        generated_at=values.get("generatedAt"),
        resolution=values.get("resolution"),
        candidate=int(candidate) if candidate.isdigit() else None,
    )


def read_file(path: Path) -> Provenance | None:
    """The provenance the image at ``path`` carries; None when it has none or is unreadable.

    A PNG's chunks and a JPEG's header segments are walked, reading only the XMP packet
    (a gallery or a statement of thousands of figures reads kilobytes, not the images).
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if head.startswith(b"\x89PNG"):
                return read(_png_packet(handle))
            if head.startswith(b"\xff\xd8"):
                handle.seek(2)
                return read(_jpeg_packet(handle))
            return read(head + handle.read())
    except (OSError, struct.error):
        return None


def _png_packet(handle: BinaryIO) -> bytes:
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return b""
        (length,) = struct.unpack(">I", header[:4])
        if header[4:] == b"iTXt" and length < _HEAD:
            body = handle.read(length)
            if body.startswith(_PNG_KEY + b"\x00"):
                return body
            handle.seek(4, 1)
        elif header[4:] == b"IEND":
            return b""
        else:
            handle.seek(length + 4, 1)


def _jpeg_packet(handle: BinaryIO) -> bytes:
    while True:
        marker = handle.read(4)
        if len(marker) < 4 or marker[0] != 0xFF or not _leading(marker[1]):
            return b""
        (length,) = struct.unpack(">H", marker[2:])
        body = handle.read(length - 2)
        if marker[1] == 0xE1 and body.startswith(_JPEG_KEY):
            return body


def edited(found: Provenance) -> Provenance:
    """The provenance of a hand edit of the image ``found`` describes, written by figbuild."""
    from dataclasses import replace

    return found if found.provisional else replace(found, how="composite")
