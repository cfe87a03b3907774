"""The no-op fast path: replay a ``status`` (or a ``sync`` with nothing to do) whose inputs
have not changed, before click and the rest of figbuild are imported.

The console script runs :func:`replay` first. It finds the paper, derives a key from
the paper root, the figbuild version, the normalised arguments and the environment
that changes what is printed, and loads the one snapshot stored under that key. The
snapshot holds the exact stdout, stderr and exit code of the full run that wrote it,
and the stat signature of every input that run depended on: the manifest, the lock,
every content file it read, the directories its globs listed, every output, the git
files that decide the "ignored by git" warning, the history store's index, and
figbuild's own source. If every signature still matches, the output is replayed;
anything else (including a question this module does not understand) falls through
to the full CLI, which records its inputs (:func:`note_input`, :func:`note_glob`,
:func:`offer`) so that :func:`finish` can write a new snapshot.

A snapshot is only written for a run that did nothing, whose output does not depend
on time, and none of whose inputs was modified within two seconds of the run's start
(the racy-git rule of :mod:`figbuild.digests`): any later change to an input then
shows in its ctime, which nothing can set back. It is an optimisation, never a
second source of truth: deleting the cache directory only costs speed.

Standard library only, and nothing from figbuild but its version: every import here
is paid by every run, so there are very few of them (no pathlib, re, hashlib or glob).
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from figbuild import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, NoReturn

    #: A path's stat signature: (mode, size, mtime_ns, ctime_ns, inode, device, real path),
    #: None if absent.
    Signature = tuple[int, int, int, int, int, int, str] | None
    #: A folder of inputs as a snapshot keeps it: its path, its real path, the names in it.
    Folder = tuple[str, str, tuple[str, ...]]

#: Set (to anything but "" or "0") to always run the full CLI, e.g. to compare the two.
DISABLE_ENV = "FIGBUILD_NO_FASTPATH"
#: Inputs modified more recently than this before a run began (ns) are never trusted.
RACY_NS = 2_000_000_000
FORMAT = 4
MANIFEST_NAME = "figures.yaml"
LOCK_NAME = "figures.lock"
KEY_ENV = "PAPERBANANA_API_KEY"  # figbuild.backends.paperbanana.settings.KEY_ENV
STORE_ENV = "FIGBUILD_STORE"

#: Environment variables that change what status or sync print, or which files they read.
_ENV = (
    STORE_ENV,
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "HOME",
    "PATH",
    "TERM",
    "PAPERBANANA_BASE_URL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "GITHUB_ACTIONS",  # status prints annotations there (figbuild.github)
)
#: Options of each command the fast path understands, with whether they take a value.
_OPTIONS: dict[str, dict[str, bool]] = {
    "status": {"--json": False, "--check": False},
    "deps": {},
    "sync": {
        "--json": False,
        "--dry-run": False,
        "--placeholder": False,
        "--emulator": False,
        "--best-effort": False,
        "--deps": False,
        "--jobs": True,
        "--max-credits": True,
    },
}


def config_home(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CONFIG_HOME/figbuild`` when that is an absolute path, else
    ``~/.config/figbuild`` (on macOS too, as git does): where ``figbuild login`` keeps the
    key (``credentials``) or says it is in the keyring (``keyring``). The one rule, which
    ``figbuild login`` and the key's lookup use too.

    An ``environ`` given explicitly is all there is: without ``HOME`` or
    ``XDG_CONFIG_HOME`` in it, the folder is one that holds nothing.
    """
    mapping = os.environ if environ is None else environ
    configured = mapping.get("XDG_CONFIG_HOME", "").strip()
    if configured and os.path.isabs(configured):
        return os.path.join(configured, "figbuild")
    home = mapping.get("HOME", "").strip()
    if not home:
        home = os.path.expanduser("~") if environ is None else "/nonexistent"
    return os.path.join(home, ".config", "figbuild")


#: The files under :func:`config_home` whose presence means ``figbuild login`` stored a key.
KEY_FILES = ("credentials", "keyring")


def key_configured() -> bool:
    """Whether a key is configured: in the environment, or by ``figbuild login``. Part of
    every snapshot's key, so that a "no key" warning never replays once a key is set."""
    if os.environ.get(KEY_ENV, "").strip():
        return True
    home = config_home()
    return any(os.path.lexists(os.path.join(home, name)) for name in KEY_FILES)


def cache_home() -> str:
    """``$XDG_CACHE_HOME/figbuild`` (``~/.cache``), or ``~/Library/Caches/figbuild`` on macOS."""
    configured = os.environ.get("XDG_CACHE_HOME")
    if configured:
        return os.path.join(configured, "figbuild")
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "figbuild")
    return os.path.join(home, ".cache", "figbuild")


def private_dir(path: str) -> str:
    """``path`` as a folder of this user's (made 0700), made if missing; OSError when it
    is another user's: a cache there is never used. One of ours that others may write
    is closed to them first."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not _private(st, directory=True):
        import stat

        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise OSError(f"{path} is not a private folder of this user's")
        os.chmod(path, 0o700)  # ours, made by an older figbuild with the umask's mode
    return path


def read_owned(path: str) -> bytes:
    """The bytes of a cache file, only if this user owns it, nobody else may write it,
    and its folder is this user's, closed to others: OSError otherwise (the cache is then
    ignored, never trusted). A symlink is not followed."""
    folder = os.lstat(os.path.dirname(path) or ".")
    if not _private(folder, directory=True):
        raise OSError(f"{os.path.dirname(path)} is not a private folder of this user's")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not _private(st, directory=False):
            raise OSError(f"{path} is not a cache file of this user's")
        chunks = [os.read(fd, st.st_size + 1)]  # one read, unless it grew meanwhile
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return chunks[0] if len(chunks) == 2 else b"".join(chunks)
    finally:
        os.close(fd)


def _private(st: os.stat_result, *, directory: bool) -> bool:
    import stat

    kind = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    owner = getattr(os, "getuid", None)
    mine = owner is None or st.st_uid == owner()
    # Nobody else may write it (or, for a folder, replace what is in it).
    return kind and mine and not st.st_mode & 0o022


# --- which question is asked -------------------------------------------------------------


def parse(argv: Sequence[str]) -> tuple[Any, ...] | None:
    """``argv`` normalised, so that argument lists the CLI reads alike compare equal:
    (command, verbosity, -C directory, flags, valued options, ids). None for anything
    else: other commands, ``--help``, ``--``, unknown or malformed options."""
    directory: str | None = None
    verbose, quiet = 0, False
    command: str | None = None
    flags: set[str] = set()
    values: dict[str, int] = {}
    ids: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "-C":
            directory = next(args, None)
            if not directory:
                return None
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--verbose":
            verbose += 1
        elif len(arg) > 1 and arg[0] == "-" and set(arg[1:]) <= {"v", "q"}:
            verbose += arg.count("v")
            quiet = quiet or "q" in arg
        elif arg.startswith("-"):
            if command is None:
                return None
            name, eq, value = arg.partition("=")
            takes_value = _OPTIONS[command].get(name)
            if takes_value is None or (eq and not takes_value):
                return None
            if not takes_value:
                flags.add(name)
                continue
            given = value if eq else next(args, None)
            if given is None or not (given.isascii() and given.isdigit()):
                return None
            values[name] = int(given)
        elif command is None:
            if arg not in _OPTIONS:
                return None
            command = arg
        else:
            ids.append(arg)
    if command is None or (command == "deps" and ids):
        return None
    options = tuple(sorted(values.items()))
    return (command, -1 if quiet else verbose, directory, tuple(sorted(flags)), options, tuple(ids))


def find_root(directory: str | None) -> str | None:
    """The paper root as the CLI finds it: ``-C DIR``, else the nearest directory from
    here upwards with a manifest. None when there is none (the CLI then says why)."""
    if directory is not None:
        # click refuses a -C folder that is not readable (exit 2, naming it): so does this.
        readable = os.path.isdir(directory) and os.access(directory, os.R_OK)
        if readable and os.path.isfile(os.path.join(directory, MANIFEST_NAME)):
            return directory
        return None
    if os.path.isfile(MANIFEST_NAME):
        return "."
    here = os.path.realpath(".")
    while True:
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
        if os.path.isfile(os.path.join(here, MANIFEST_NAME)):
            return here


def _key(request: tuple[Any, ...], root: str) -> bytes:
    """Everything besides the files that decides what the run prints."""
    streams = (sys.stdout, sys.stderr)
    environment = sorted(
        (name, value) for name, value in os.environ.items() if name in _ENV or name.startswith("GIT_")
    )
    material = (
        FORMAT,
        __version__,
        sys.version,
        sys.prefix,
        os.getcwd(),
        os.path.realpath(root),
        request,
        tuple(environment),
        tuple(stream is not None and stream.isatty() for stream in streams),
        key_configured(),  # whether, never which: the key itself is not kept
    )
    return repr(material).encode("utf-8", "surrogateescape")


def _snapshot_path(key: bytes) -> str:
    # A 61-bit name from the key by one big-integer remainder (no zlib or hashlib to
    # import): two keys that share a name only evict each other, as the snapshot
    # holds its whole key and answers no other.
    name = f"{int.from_bytes(key, 'little') % _NAME_MODULUS:016x}"
    return os.path.join(cache_home(), "fastpath", name)


_NAME_MODULUS = (1 << 61) - 1  # a Mersenne prime


# --- replaying ---------------------------------------------------------------------------------


#: An input path that starts so stands for the temp files in the folder after it.
_TEMPS = "\0temps\0"
TEMP_SUFFIX = ".figbuild-tmp"  # figbuild.atomic.TEMP_SUFFIX
_LINK = 0o120000  # stat.S_IFLNK, without importing stat


def _temps(folder: str) -> tuple[str, ...]:
    try:
        names = os.listdir(folder)
    except OSError:
        return ()
    return tuple(sorted(name for name in names if name.endswith(TEMP_SUFFIX)))


def _file_signature(path: str) -> tuple[Any, ...] | None:
    """A file's type, size, times and identity; None if absent. A symlink: its target's,
    with the target's real path (a file's own real path is its folder's, kept apart:
    tests/test_fastpath_signature.py checks that the two together change exactly when
    one ``os.stat`` and one ``os.path.realpath`` of the path do).

    ctime is there because nothing can set it back: an edit that keeps the size and
    restores the mtime still changes it. Real paths are there because a folder on the
    way swapped for a symlink to it (out of the paper) changes nothing else.
    """
    try:
        st = os.lstat(path)
        if st.st_mode & 0o170000 == _LINK:
            st = os.stat(path)
            return (
                st.st_mode,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                st.st_ino,
                st.st_dev,
                os.path.realpath(path),
            )
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def recorded(paths: Iterable[str]) -> tuple[tuple[Folder, ...], tuple[tuple[Any, ...], ...]]:
    """``paths`` grouped per folder (its path, its real path, the names in it) and, beside,
    each name's signature. Temp-file listings are the folder :data:`_TEMPS`, its names the
    folders listed. :func:`figbuild.snapinputs.packed` turns this into what a snapshot keeps."""
    grouped: dict[str, list[str]] = {}
    for path in sorted(paths):
        if path.startswith(_TEMPS):
            grouped.setdefault(_TEMPS, []).append(path[len(_TEMPS) :])
        else:
            folder, name = os.path.split(path)
            grouped.setdefault(folder, []).append(name)
    folders: list[Folder] = []
    signatures: list[tuple[Any, ...]] = []
    for folder, names in grouped.items():
        if folder == _TEMPS:
            folders.append((folder, "", tuple(names)))
            signatures.append(tuple(_temps(name) for name in names))
            continue
        prefix = os.path.join(folder, "")
        folders.append((folder, os.path.realpath(folder), tuple(names)))
        signatures.append(tuple(_file_signature(prefix + name) for name in names))
    return tuple(folders), tuple(signatures)


ROW = 48  # figbuild.snapinputs.ROW: a plain file's signature, six int64s


def _unchanged(folders: Sequence[tuple[str, str, str]], signatures: Sequence[Any]) -> bool:
    """Whether every input a snapshot kept (:func:`figbuild.snapinputs.packed`) is as it
    was. The hot loop of every replay: one ``realpath`` a folder and one ``lstat`` a file."""
    if len(folders) != len(signatures):
        return False
    lstat, realpath = os.lstat, os.path.realpath
    for (folder, real, joined), expected in zip(folders, signatures, strict=True):
        names = joined.split("\0")
        rows, odd = expected
        if len(rows) != ROW * len(names):
            return False
        if folder == _TEMPS:  # each name a folder whose temp files are listed
            if len(odd) != len(names) or any(_temps(name) != odd.get(i) for i, name in enumerate(names)):
                return False
            continue
        if realpath(folder) != real:
            return False
        prefix = folder if folder.endswith("/") else folder + "/"
        now = bytearray(len(rows))
        view = memoryview(now).cast("q")
        j = 0
        for i, name in enumerate(names):
            if odd and i in odd:
                if _file_signature(prefix + name) != odd[i]:
                    return False
            else:
                try:
                    st = lstat(prefix + name)
                    if st.st_mode & 0o170000 == _LINK:
                        return False
                    view[j] = st.st_mode
                    view[j + 1] = st.st_size
                    view[j + 2] = st.st_mtime_ns
                    view[j + 3] = st.st_ctime_ns
                    view[j + 4] = st.st_ino
                    view[j + 5] = st.st_dev
                except (FileNotFoundError, NotADirectoryError, ValueError, OverflowError):
                    return False  # gone, or a number a plain file's row did not hold
            j += 6
        view.release()
        if now != rows:
            return False
    return True


def _load(path: str, key: bytes) -> tuple[int, tuple[tuple[int, str], ...]] | None:
    """The exit code and output chunks of a valid snapshot at ``path``, else None."""
    try:
        snapshot = marshal.loads(read_owned(path))  # noqa: S302 - our own cache file, checked
        version, stored_key, code, chunks, folders, signatures = snapshot
        if version != FORMAT or stored_key != key or not _unchanged(folders, signatures):
            return None
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return code, chunks


def replay(argv: Sequence[str]) -> None:
    """Print the stored output of this exact no-op and exit, when nothing it depends on
    changed. Otherwise return, having prepared to record the full run for next time."""
    global _trace
    started = time.time_ns()
    try:
        request = parse(argv)
        root = find_root(request[2]) if request is not None else None
        if request is None or root is None:
            return
        key = _key(request, root)
        path = _snapshot_path(key)
        if os.environ.get(DISABLE_ENV, "") in ("", "0"):
            found = _load(path, key)
            if found is not None:
                _print(*found)
        _trace = _Trace(root, key, path, started)
    except Exception:  # whatever goes wrong here, the full CLI decides
        _trace = None


def key_forms(environ: Mapping[str, str]) -> set[str]:
    """As :func:`figbuild.backends.paperbanana.settings.key_forms` (tested to agree): every
    spelling of the configured key that could appear in text."""
    raw = environ.get(KEY_ENV, "")
    return {form for form in {raw, raw.strip(), *raw.split()} if len(form.strip()) >= 6}


def _print(code: int, chunks: Iterable[tuple[int, str]]) -> NoReturn:
    # The text was redacted when it was recorded; redacted again, as figbuild.output.redact
    # does, in case the key has changed since.
    forms = sorted(key_forms(os.environ), key=len, reverse=True)
    try:
        for fd, text in chunks:
            for form in forms:
                text = text.replace(form, "sk-***")
            stream = sys.stdout if fd == 1 else sys.stderr
            stream.write(text)
            stream.flush()
    except BrokenPipeError:
        code = 1  # as the CLI's error handler
    except KeyboardInterrupt:  # as the CLI's error handler
        sys.stderr.write("figbuild: interrupted; run the same command again to resume\n")
        code = 130
    sys.exit(code)


# --- recording the full run ------------------------------------------------------------------


class _Trace:
    """What the full run that follows depends on and prints."""

    def __init__(self, root: str, key: bytes, path: str, started: int) -> None:
        self.root = root
        self.key = key
        self.path = path
        self.started = started
        self.inputs: set[str] = set()
        self.globs: set[tuple[str, str]] = set()
        self.chunks: list[tuple[int, str]] = []
        self.outputs: list[str] | None = None
        self.code: int | None = None
        self.repeatable = True


_trace: _Trace | None = None


def note_input(path: str | os.PathLike[str]) -> None:
    """The run read (or stat'ed for a digest) this file: its contents decide the output."""
    if _trace is not None:
        _trace.inputs.add(os.path.abspath(path))


def note_glob(root: str | os.PathLike[str], pattern: str) -> None:
    """The run expanded this glob (relative to ``root``): its directories' listings count."""
    if _trace is not None:
        _trace.globs.add((os.path.abspath(root), pattern))


def note_temps(directory: str | os.PathLike[str]) -> None:
    """The run swept this folder's temp files: one appearing there changes what it does."""
    if _trace is not None:
        _trace.inputs.add(_TEMPS + os.path.abspath(directory))


def transcribe(fd: int, text: str) -> None:
    """The run wrote ``text`` to stdout (1) or stderr (2)."""
    if _trace is not None:
        _trace.chunks.append((fd, text))


def unrepeatable() -> None:
    """The run printed something that depends on time or on other processes."""
    if _trace is not None:
        _trace.repeatable = False


def offer(root: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]], code: int) -> None:
    """The run did nothing, reads no clock, and will exit with ``code``; ``outputs`` are
    the figures' files whose presence and bytes its answer depends on."""
    if _trace is not None:
        _trace.outputs = [os.path.abspath(output) for output in outputs]
        _trace.code = int(code)
        if os.path.realpath(root) != os.path.realpath(_trace.root):
            _trace.repeatable = False


def finish(code: object) -> tuple[str, bytes] | None:
    """The snapshot of the run that is exiting with ``code`` (path and bytes), or None
    when it must not be replayed: it did something, its output depends on time, it
    failed, or an input changed too recently to be told apart from a later change."""
    trace = _trace
    if trace is None or not trace.repeatable or trace.outputs is None or code != trace.code:
        return None
    from figbuild import snapinputs  # only when a snapshot is written

    try:
        folders, signatures = recorded(_inputs(trace))
    except OSError:
        return None
    limit = trace.started - RACY_NS
    if any(_recent(sig, limit) for group in signatures for sig in group):
        return None
    snapshot = (
        FORMAT,
        trace.key,
        trace.code,
        _coalesced(trace.chunks),
        *snapinputs.packed(folders, signatures),
    )
    return trace.path, marshal.dumps(snapshot)


def _recent(sig: Signature | tuple[str, ...], limit: int) -> bool:
    if sig is None or not sig or isinstance(sig[0], str):
        return False  # absent, or a list of names
    return int(sig[2]) >= limit or int(sig[3]) >= limit


def _coalesced(chunks: Iterable[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """Consecutive chunks to one stream joined: the same bytes on each stream, in the same
    order between the two, in fewer writes."""
    joined: list[tuple[int, str]] = []
    for fd, text in chunks:
        if joined and joined[-1][0] == fd:
            joined[-1] = (fd, joined[-1][1] + text)
        else:
            joined.append((fd, text))
    return tuple(joined)


def _inputs(trace: _Trace) -> set[str]:
    from figbuild import gitinputs, snapinputs  # only when a snapshot is written

    assert trace.outputs is not None
    root = os.path.abspath(trace.root)
    inputs = {
        os.path.join(root, MANIFEST_NAME),
        os.path.join(root, LOCK_NAME),
        *_store_inputs(root),
        *(os.path.join(config_home(), name) for name in KEY_FILES),
        *trace.inputs,
        *trace.outputs,
        *snapinputs.own_source(),
    }
    for glob_root, pattern in trace.globs:
        inputs.update(snapinputs.listed(glob_root, pattern))

    inputs.update(gitinputs.inputs(root, trace.outputs))
    return inputs


def _store_inputs(root: str) -> list[str]:
    """The history store's index directory (it need not exist), as
    :func:`figbuild.store.disk.location` finds the store, and the paper's label in it."""
    configured = os.environ.get(STORE_ENV, "").strip()
    store = os.path.join(root, os.path.expanduser(configured) if configured else ".figbuild/store")
    return [os.path.join(store, "index"), os.path.join(root, ".figbuild", "paper-id")]
