"""The image as `docker save` streams it, read once per grading: its layers' files, its config and dive's figures.

The figures are also kept on disk by layer content (grader/facts/dive.py computes them), so
grading the same layers again reads nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import posixpath
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from grader.context import Context
from grader.dockerfile import Instruction
from grader.facts.dive import Efficiency, Entry, WastedPath, analyze, entry_from_tar_name
from grader.facts.image import MB

DEFAULT_TIMEOUT = 60.0
CACHE_VERSION = 1  # bump when the analysis changes, so older cached figures are not read
CACHED_WASTED_PATHS = 50
ANALYSES_KEY = "saved_analyses"  # ctx.memo: image id -> (SavedImage, Efficiency), two checks of one grading share one read


class SavedImageTimeout(Exception):
    """Reading the saved image took longer than allowed."""


@dataclass
class SavedImage:
    """What a `docker save` stream holds: the layers in order, their entries, the image config."""

    layer_names: list[str]  # layer tar names in manifest order (a name may repeat)
    entries: list[Entry]
    config: dict
    found: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # layer tar -> [(path, label)]

    def layer_of(self, tar_name: str) -> int | None:
        """Index of the first layer read from this tar."""
        return self.layer_names.index(tar_name) if tar_name in self.layer_names else None


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks, giving up after a deadline."""

    def __init__(self, chunks: Iterable[bytes], deadline: float):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            if time.monotonic() > self._deadline:
                raise SavedImageTimeout()
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


Scanner = Callable[[str, bytes], "str | None"]  # (path, file content) -> a label when something is found


def read_saved_image(
    chunks: Iterable[bytes],
    timeout: float = DEFAULT_TIMEOUT,
    scan: Scanner | None = None,
    scan_max_bytes: int = 5 * MB,
) -> SavedImage:
    """Read a `docker save` tar stream once, without writing it anywhere.

    Layer tars are listed member by member (names and sizes only, unless `scan` is given: then
    every regular file up to `scan_max_bytes` is read and handed to it). manifest.json usually
    comes last, so layers are kept by tar name and put in order at the end.
    """
    deadline = time.monotonic() + timeout
    stream = io.BufferedReader(_ChunkReader(chunks, deadline), 1 << 20)
    listings: dict[str, list[tuple[str, int]]] = {}
    links: dict[str, str] = {}
    found: dict[str, list[tuple[str, str]]] = {}
    documents: dict[str, bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            name = member.name
            if name.endswith(".tar") and member.issym():
                links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            elif name.endswith(".tar") and member.isfile():
                listing: list[tuple[str, int]] = []
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as layer:
                    for item in layer:
                        listing.append((item.name, item.size))
                        if scan is not None and item.isfile() and item.size <= scan_max_bytes:
                            handle = layer.extractfile(item)
                            label = scan(item.name, handle.read() if handle else b"")
                            if label:
                                found.setdefault(name, []).append(("/" + item.name.lstrip("./"), label))
                listings[name] = listing
            elif name.endswith(".json") and member.isfile() and member.size < 10 * MB:
                handle = outer.extractfile(member)
                documents[name] = handle.read() if handle else b""
    manifest = json.loads(documents.get("manifest.json", b"[]") or b"[]")
    if not manifest:
        raise ValueError("the saved image has no manifest.json")
    first = manifest[0]
    config = json.loads(documents.get(first.get("Config", ""), b"{}") or b"{}")
    names = [links.get(name, name) for name in first.get("Layers", [])]
    entries: list[Entry] = []
    for index, name in enumerate(names):
        for member_name, size in listings.get(name, []):
            entry = entry_from_tar_name(index, member_name, size)
            if entry is not None:
                entries.append(entry)
    return SavedImage(layer_names=names, entries=entries, config=config, found=found)


def save_and_read(ctx: Context, image_id: str, timeout: float, scan: Scanner | None = None) -> SavedImage:
    """Stream `docker save` of an image through the session and read it; the stream is closed on every path."""
    chunks = ctx.session.save_image(image_id)
    try:
        return read_saved_image(chunks, timeout=timeout, scan=scan)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def saved_analysis(ctx: Context, image_id: str, timeout: float) -> tuple[SavedImage, Efficiency]:
    """The saved image and dive's figures for it, read once per image in a grading, and once per layer content on disk.

    `docker save` of a 466 MB image takes the engine about 4 s. The figures depend only on the
    image's layers (RootFS.Layers, content hashes) and the base image's layer count, so they are
    kept in a disk cache under that key: grading the same layers again costs nothing.
    """
    analyses = ctx.memo.setdefault(ANALYSES_KEY, {})
    if image_id not in analyses:
        base_layers = base_layer_count(ctx)
        key = _layers_key(ctx, base_layers)
        cached = _read_cached(key) if key else None
        if cached is None:
            saved = save_and_read(ctx, image_id, timeout)
            cached = (saved, analyze(saved.entries, layer_count=len(saved.layer_names), base_layers=base_layers))
            if key:
                _write_cached(key, *cached)
        analyses[image_id] = cached
    return analyses[image_id]


def cache_dir() -> Path:
    """Where figures computed once are kept: $LABKIT_CACHE_DIR, else $XDG_CACHE_HOME/labkit, else ~/.cache/labkit."""
    explicit = os.environ.get("LABKIT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"


def _layers_key(ctx: Context, base_layers: int) -> str | None:
    layers = ((ctx.image or {}).get("RootFS") or {}).get("Layers") or []
    if not layers:
        return None
    text = json.dumps({"version": CACHE_VERSION, "layers": layers, "base": base_layers})
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cached(key: str) -> tuple[SavedImage, Efficiency] | None:
    try:
        document = json.loads((cache_dir() / "efficiency" / f"{key}.json").read_text(encoding="utf-8"))
        figures = dict(document["efficiency"])
        figures["layer_sizes"] = tuple(figures["layer_sizes"])
        figures["wasted"] = tuple(WastedPath(w["path"], w["cumulative_bytes"], tuple(w["layers"])) for w in figures["wasted"])
        saved = SavedImage(layer_names=list(document["layer_names"]), entries=[], config=document["config"])
        return saved, Efficiency(**figures)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no entry, or one from an older grader: compute again


def _write_cached(key: str, saved: SavedImage, figures: Efficiency) -> None:
    folder = cache_dir() / "efficiency"
    document = {
        "layer_names": saved.layer_names,
        "config": {"history": saved.config.get("history") or []},  # what layer_instructions reads
        "efficiency": {**dataclasses.asdict(figures), "wasted": [dataclasses.asdict(w) for w in figures.wasted[:CACHED_WASTED_PATHS]]},
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{key}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, folder / f"{key}.json")
    except OSError:
        pass  # a cache that cannot be written only costs time


# -- which Dockerfile line made a layer ---------------------------------------------------


def layer_instructions(ctx: Context, config: Mapping[str, Any]) -> dict[int, Instruction]:
    """Layer index -> the final stage's instruction that wrote it, matched through the image history.

    The classic builder writes one history entry per instruction of the final stage, after the
    base image's entries and before the grader's own LABEL step; entries that changed files
    carry a layer, counted in order from the first history entry.
    """
    if ctx.dockerfile is None:
        return {}
    history = [h for h in config.get("history") or [] if isinstance(h, dict)]
    while history and "org.labkit." in str(history[-1].get("created_by", "")):
        history.pop()
    own = [ins for ins in ctx.dockerfile.final_stage() if ins.keyword != "FROM"]
    if len(own) > len(history):
        return {}
    first_own = len(history) - len(own)
    mapping: dict[int, Instruction] = {}
    layer = 0
    for index, item in enumerate(history):
        if item.get("empty_layer"):
            continue
        if index >= first_own:
            mapping[layer] = own[index - first_own]
        layer += 1
    return mapping


def base_layer_count(ctx: Context) -> int:
    """How many of the image's first layers are the base image's (1 when the base is unknown)."""
    layers = ((ctx.base_image or {}).get("RootFS") or {}).get("Layers") or []
    return len(layers) or 1
