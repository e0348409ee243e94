"""Layer efficiency as dive computes it, from the file listings of an image's layers (pure: no engine).

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

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

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
