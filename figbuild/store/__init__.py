"""History: every image figbuild writes or overwrites, kept by content hash.

On disk (``<paper>/.figbuild/store/``, or the folder ``FIGBUILD_STORE`` names,
which several papers, clones or co-authors may share)::

    objects/ab/cdef…              the image bytes, named by their sha256 (stored once)
    index/seg-<id>.jsonl          one index line per put, each file written atomically
    index/pack-<id>-<check>.jsonl past 64 segments, they and the pack merge into a new
                                  pack (gc rewrites it); <check> guards its bytes
    damaged/<id>.txt              index lines that failed their check, set aside
    lock                          held by every write (put, compaction, gc); reads take none
    <paper>/.figbuild/paper-id    (in each paper) the label its entries carry

The index maps a request's fingerprint to the images made for it. Reads verify
objects by hash and skip (with a warning) what is missing or damaged.
"""

from __future__ import annotations

from figbuild.store.disk import STORE_ENV, Store, location, read_paper_id
from figbuild.store.ledger import Ledger, ledger
from figbuild.store.model import Entry, GcResult, How, Meta, StoreError, StoreWarning

__all__ = [
    "STORE_ENV",
    "Entry",
    "GcResult",
    "How",
    "Ledger",
    "Meta",
    "Store",
    "StoreError",
    "StoreWarning",
    "ledger",
    "location",
    "read_paper_id",
]
