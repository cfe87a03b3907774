"""``figbuild gallery``: every figure of a paper on one page, with its versions and credits.

:mod:`.model` builds the page's data, :mod:`.thumbs` makes thumbnails by image
hash, :mod:`.site` writes the static site, :mod:`.actions` carries out what the
served page's buttons ask for, and :mod:`.serve` serves it all on loopback.
"""
