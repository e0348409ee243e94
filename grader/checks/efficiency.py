"""Layer efficiency as dive computes it, read from the image's `docker save` stream.

dive's figures (followed from wagoodman/dive, dive/filetree/efficiency.go for the score and the
wasted paths, dive/image/analysis.go for wasted bytes and the user-wasted share, and
dive/filetree/file_tree.go + file_node.go for how whiteouts are named and stacked):

- Each layer is a file tree; only its leaves are looked at (a directory that has entries in that
  layer is not a leaf of that layer).
- Every leaf adds its size to its path's cumulative size and may lower its path's smallest size.
  A whiteout `.wh.NAME` counts for the path NAME with the size of what it deleted when NAME was a
  directory in the layers below (everything under it), and 0 when NAME was a file: a file written
  and later deleted therefore keeps a smallest size of 0 and counts entirely as waste.
- efficiency = sum over paths of the smallest size / sum over paths of the cumulative size
  (1.0 for an image without bytes).
- A path seen in two or more layers is inefficient; wasted bytes = the sum of the cumulative
  sizes of the inefficient paths (every copy, as dive's released versions count it).
- A layer's size is the sum of its entries' sizes; dive's user share is wasted bytes over the
  size of every layer but the first.
- The opaque-directory marker `.wh..wh..opq` is ignored, as dive ignores it: the files it hides
  are not counted as waste unless they are written again.

One difference, on purpose: released dive stops reading a layer at a whiteout whose path no
lower layer has (a file made and deleted in the same layer); such a whiteout is skipped here and
the rest of the layer still counts (the fix proposed in dive's pull request 715).
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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from grader.kinds import register
from grader.context import Context
from grader.dockerfile import Instruction
from grader.i18n import t
from grader.model import Outcome

MB = 1_000_000
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
DEFAULT_TIMEOUT = 60.0
CACHE_VERSION = 1  # bump when the analysis changes, so older cached figures are not read
CACHED_WASTED_PATHS = 50

# One file of one layer: (layer index, absolute path, size in bytes, is a whiteout).
# For a whiteout the path is the one it deletes (`/etc/.wh.nginx` -> `/etc/nginx`).
Entry = tuple[int, str, int, bool]


def entry_from_tar_name(layer: int, name: str, size: int) -> Entry | None:
    """The entry a layer tar member stands for, or None for the opaque marker (dive ignores it)."""
    path = "/" + posixpath.normpath("/" + name).lstrip("/")
    if path == "/":
        return None
    folder, base = posixpath.split(path)
    if base == OPAQUE or base.startswith(WHITEOUT + WHITEOUT):
        return None
    if base.startswith(WHITEOUT):
        return (layer, posixpath.join(folder, base[len(WHITEOUT):]), 0, True)
    return (layer, path, int(size), False)


@dataclass(frozen=True)
class WastedPath:
    """A path written in two or more layers (or written, then deleted)."""

    path: str
    cumulative_bytes: int
    layers: tuple[int, ...]


@dataclass(frozen=True)
class Efficiency:
    """dive's figures for one image."""

    score: float
    wasted_bytes: int
    size_bytes: int  # every layer
    layer_sizes: tuple[int, ...]
    base_layers: int  # how many first layers belong to the base image
    user_size_bytes: int  # the layers after the base image's
    user_wasted_bytes: int  # waste of the paths the image's own layers wrote or deleted
    wasted: tuple[WastedPath, ...] = field(default_factory=tuple)  # biggest first

    @property
    def dive_user_wasted_percent(self) -> float:
        """dive's figure: every wasted byte over the size of all layers but the first."""
        rest = sum(self.layer_sizes[1:])
        return 100.0 * self.wasted_bytes / rest if rest else 0.0

    @property
    def user_wasted_percent(self) -> float:
        """The image's own waste over the size of its own layers."""
        return 100.0 * self.user_wasted_bytes / self.user_size_bytes if self.user_size_bytes else 0.0


class _Tree:
    """The stacked file system of the layers read so far: sizes and children of every path."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.children: dict[str, set[str]] = defaultdict(set)

    def add(self, path: str, size: int) -> None:
        child = path
        while child != "/":
            parent = posixpath.dirname(child)
            if child in self.sizes and parent in self.children and child in self.children[parent]:
                break
            self.sizes.setdefault(child, 0)  # an intermediate folder carries no payload
            self.children[parent].add(child)
            child = parent
        self.sizes[path] = size

    def subtree(self, path: str) -> Iterator[str]:
        stack = [path]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(self.children.get(current, ()))

    def size_under(self, path: str) -> int:
        return sum(self.sizes.get(p, 0) for p in self.subtree(path))

    def remove(self, path: str) -> None:
        for gone in list(self.subtree(path)):
            self.sizes.pop(gone, None)
            self.children.pop(gone, None)
        self.children.get(posixpath.dirname(path), set()).discard(path)


def analyze(entries: Iterable[Entry], layer_count: int | None = None, base_layers: int = 1) -> Efficiency:
    """dive's efficiency, wasted bytes and wasted paths for per-layer file listings."""
    by_layer: dict[int, list[tuple[str, int, bool]]] = defaultdict(list)
    for layer, path, size, whiteout in entries:
        by_layer[layer].append(("/" + posixpath.normpath("/" + path).lstrip("/"), int(size), bool(whiteout)))
    count = layer_count if layer_count is not None else (max(by_layer) + 1 if by_layer else 0)
    layer_sizes = tuple(sum(size for _, size, _ in by_layer.get(i, ())) for i in range(count))
    cumulative: dict[str, int] = defaultdict(int)
    smallest: dict[str, int] = {}
    seen_in: dict[str, list[int]] = defaultdict(list)
    stacked = _Tree()

    def record(path: str, size: int, layer: int) -> None:
        cumulative[path] += size
        smallest[path] = size if path not in smallest else min(smallest[path], size)
        seen_in[path].append(layer)

    for layer in range(count):
        items = by_layer.get(layer, [])
        # A path is a leaf of this layer unless something of this layer lies under it.
        folders = set()
        for path, _, _ in items:
            parent = posixpath.dirname(path)
            while parent not in folders and parent != "/":
                folders.add(parent)
                parent = posixpath.dirname(parent)
        for path, size, whiteout in items:
            if whiteout:
                if path not in stacked.sizes:
                    continue  # nothing below to delete: made and deleted in one layer
                record(path, stacked.size_under(path) if stacked.children.get(path) else 0, layer)
            elif path not in folders:
                record(path, size, layer)
        for path, size, whiteout in items:
            if whiteout:
                stacked.remove(path)
            else:
                stacked.add(path, size)

    total = sum(cumulative.values())
    minimum = sum(smallest.values())
    wasted = sorted(
        (WastedPath(path, cumulative[path], tuple(layers)) for path, layers in seen_in.items() if len(layers) >= 2),
        key=lambda item: (-item.cumulative_bytes, item.path),
    )
    base = max(0, min(base_layers, count))
    return Efficiency(
        score=minimum / total if total else 1.0,
        wasted_bytes=sum(item.cumulative_bytes for item in wasted),
        size_bytes=sum(layer_sizes),
        layer_sizes=layer_sizes,
        base_layers=base,
        user_size_bytes=sum(layer_sizes[base:]),
        user_wasted_bytes=sum(item.cumulative_bytes for item in wasted if item.layers[-1] >= base),
        wasted=tuple(wasted),
    )


# -- reading `docker save` as a stream ----------------------------------------------------


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


# Analyses already made in this process, by image id: two checks of one grading share one read.
_ANALYSES: dict[str, tuple[SavedImage, "Efficiency"]] = {}


def saved_analysis(ctx: Context, image_id: str, timeout: float) -> tuple[SavedImage, Efficiency]:
    """The saved image and dive's figures for it, read once per image, and once per layer content on disk.

    `docker save` of a 466 MB image takes the engine about 4 s. The figures depend only on the
    image's layers (RootFS.Layers, content hashes) and the base image's layer count, so they are
    kept in a disk cache under that key: grading the same layers again costs nothing.
    """
    if image_id not in _ANALYSES:
        base_layers = base_layer_count(ctx)
        key = _layers_key(ctx, base_layers)
        cached = _read_cached(key) if key else None
        if cached is None:
            saved = save_and_read(ctx, image_id, timeout)
            cached = (saved, analyze(saved.entries, layer_count=len(saved.layer_names), base_layers=base_layers))
            if key:
                _write_cached(key, *cached)
        while len(_ANALYSES) >= 4:
            _ANALYSES.pop(next(iter(_ANALYSES)))
        _ANALYSES[image_id] = cached
    return _ANALYSES[image_id]


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


# -- the check ----------------------------------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / MB:.1f}"


@register("layer_efficiency", needs="image", while_app_starts=True)  # `docker save` takes seconds on a new layer
def layer_efficiency(ctx: Context, params: Mapping[str, Any]) -> Outcome:
    """dive's layer efficiency and wasted bytes, read from `docker save`; fails below/above the optional limits."""
    timeout = float(params.get("timeout", DEFAULT_TIMEOUT))
    exclude_base = bool(params.get("exclude_base_layers", False))
    try:
        saved, result = saved_analysis(ctx, ctx.build.image_id, timeout)
    except SavedImageTimeout:
        return Outcome.fail(t("layer_efficiency.timeout", seconds=f"{timeout:.0f}"))
    base = result.base_layers
    wasted = result.user_wasted_bytes if exclude_base else result.wasted_bytes
    ctx.facts["efficiency_percent"] = round(100 * result.score, 2)
    ctx.facts["wasted_mb"] = round(result.wasted_bytes / MB, 2)
    ctx.facts["user_wasted_mb"] = round(result.user_wasted_bytes / MB, 2)
    summary = t(
        "layer_efficiency.summary",
        percent=f"{100 * result.score:.1f}",
        wasted=_mb(result.wasted_bytes),
        paths=len([w for w in result.wasted if w.cumulative_bytes]),
        user_wasted=_mb(result.user_wasted_bytes),
        user_percent=f"{result.user_wasted_percent:.1f}",
        user_size=_mb(result.user_size_bytes),
    )
    places = layer_instructions(ctx, saved.config)
    detail = "\n".join(
        f"{_mb(w.cumulative_bytes)} MB  {w.path}  (layers {', '.join(str(i) for i in w.layers)})" for w in result.wasted[:10]
        if w.cumulative_bytes
    )
    worst = next((w for w in result.wasted if w.cumulative_bytes and (not exclude_base or w.layers[-1] >= base)), None)
    location = places[worst.layers[-1]].location if worst and worst.layers[-1] in places else None
    example = (
        t("layer_efficiency.example", path=worst.path, copies=len(worst.layers), size=_mb(worst.cumulative_bytes))
        if worst
        else ""
    )
    minimum = params.get("min_efficiency")
    if minimum is not None and result.score < float(minimum):
        return Outcome.fail(
            t("layer_efficiency.too_low", summary=summary, minimum=f"{100 * float(minimum):.0f}", example=example),
            location,
            detail,
        )
    limit = params.get("max_wasted_mb")
    if limit is not None and wasted / MB > float(limit):
        return Outcome.fail(
            t("layer_efficiency.too_much_waste", summary=summary, wasted=_mb(wasted), limit=f"{float(limit):g}", example=example),
            location,
            detail,
        )
    limit = params.get("max_user_wasted_percent")
    if limit is not None and result.user_wasted_percent > float(limit):
        return Outcome.fail(
            t("layer_efficiency.user_share", summary=summary, limit=f"{float(limit):g}", example=example),
            location,
            detail,
        )
    return Outcome.ok(summary, detail=detail)
