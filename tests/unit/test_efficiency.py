"""Layer efficiency as dive computes it: the pure function on synthetic layers, the `docker save` reader, the check."""

from __future__ import annotations

import pytest

from fakes import FakeSession
from unit_helpers import _tar, built, chunks, docker_save_tar
from grader.facts.dive import analyze, entry_from_tar_name
from grader.facts.saved_image import SavedImageTimeout, layer_instructions, read_saved_image
from grader.grading import run_check
from grader.model import CheckSpec, Status

# -- the pure function ------------------------------------------------------------------------


def test_tar_names_become_entries_whiteouts_name_what_they_delete():
    assert entry_from_tar_name(2, "usr/bin/python3", 42) == (2, "/usr/bin/python3", 42, False)
    assert entry_from_tar_name(0, "./etc/", 0) == (0, "/etc", 0, False)
    assert entry_from_tar_name(3, "etc/.wh.nginx", 0) == (3, "/etc/nginx", 0, True)
    assert entry_from_tar_name(1, ".wh.data", 0) == (1, "/data", 0, True)
    # dive ignores the opaque-directory marker, and so does the reader.
    assert entry_from_tar_name(4, "opq/.wh..wh..opq", 0) is None
    assert entry_from_tar_name(0, "./", 0) is None


def test_no_file_twice_is_fully_efficient():
    result = analyze([(0, "/bin/sh", 100, False), (1, "/app/app.py", 10, False), (2, "/app/model.pkl", 5, False)])
    assert result.score == 1.0
    assert result.wasted_bytes == 0 and result.wasted == ()
    assert result.layer_sizes == (100, 10, 5)


def test_an_empty_image_scores_one():
    assert analyze([], layer_count=2).score == 1.0


def test_overwrite_counts_every_copy_as_wasted():
    result = analyze([
        (0, "/data/a.bin", 100, False),
        (0, "/bin/sh", 600, False),
        (1, "/data/a.bin", 300, False),
    ])
    # Smallest sizes 100 + 600 over cumulative 400 + 600; dive's wasted bytes count both copies.
    assert result.score == pytest.approx(700 / 1000)
    assert result.wasted_bytes == 400
    assert [(w.path, w.cumulative_bytes, w.layers) for w in result.wasted] == [("/data/a.bin", 400, (0, 1))]


def test_a_deleted_file_is_wasted_whole():
    result = analyze([
        (0, "/data/c.bin", 30, False),
        (0, "/bin/sh", 70, False),
        (1, "/data/c.bin", 0, True),
    ])
    # The whiteout of a file counts 0, so the smallest size of the path is 0.
    assert result.score == pytest.approx(70 / 100)
    assert result.wasted_bytes == 30
    assert result.wasted[0].layers == (0, 1)


def test_a_deleted_directory_counts_its_content_once_as_dive_does():
    result = analyze([
        (0, "/data/sub", 0, False),
        (0, "/data/sub/b.bin", 50, False),
        (0, "/data/sub/deeper/c.bin", 25, False),
        (1, "/data/sub", 0, True),
    ])
    # dive visits only leaves: the folder was never a leaf below, so its whiteout is a new
    # path weighing what it deleted (75), and nothing is counted as wasted.
    assert result.wasted_bytes == 0
    assert result.score == 1.0
    assert result.layer_sizes == (75, 0)


def test_an_opaque_directory_is_ignored_like_dive_does():
    names = [
        (0, "opq/", 0), (0, "opq/x", 1000), (0, "opq/z", 2000),
        (1, "opq/", 0), (1, "opq/.wh..wh..opq", 0), (1, "opq/y", 500),
    ]
    entries = [e for e in (entry_from_tar_name(*n) for n in names) if e]
    result = analyze(entries)
    assert result.wasted_bytes == 0 and result.score == 1.0
    assert result.layer_sizes == (3000, 500)


def test_a_whiteout_of_something_never_written_is_skipped():
    result = analyze([(0, "/bin/sh", 10, False), (1, "/tmp/gone", 0, True)])
    assert result.score == 1.0 and result.wasted == ()


def test_the_image_cross_checked_with_dive():
    """The user layers of an image whose dive 0.13.1 figures we compared (wasted 330000 bytes).

    RUNs: write a.bin, c.bin, sub/b.bin; overwrite a.bin; rm c.bin; rm -rf sub; make /opq/x, z;
    rm -rf /opq && mkdir /opq && write y (an opaque folder); rm -rf /usr/share/doc/*; touch /tmp.
    """
    names = [
        (0, "tmp/", 0), (0, "bin/", 0), (0, "bin/sh", 10000), (0, "usr/share/doc/pkg/", 0),
        (0, "usr/share/doc/big/", 0), (0, "usr/share/doc/big/copyright", 1000),
        (1, "data/", 0), (1, "data/a.bin", 100000), (1, "data/c.bin", 30000), (1, "data/sub/", 0), (1, "data/sub/b.bin", 50000),
        (2, "data/", 0), (2, "data/a.bin", 200000),
        (3, "data/", 0), (3, "data/.wh.c.bin", 0),
        (4, "data/", 0), (4, "data/.wh.sub", 0),
        (5, "opq/", 0), (5, "opq/x", 1000), (5, "opq/z", 2000),
        (6, "opq/", 0), (6, "opq/.wh..wh..opq", 0), (6, "opq/y", 500),
        (7, "usr/", 0), (7, "usr/share/", 0), (7, "usr/share/doc/", 0), (7, "usr/share/doc/.wh.pkg", 0), (7, "usr/share/doc/.wh.big", 0),
        (8, "tmp/", 0),
    ]
    result = analyze([e for e in (entry_from_tar_name(*n) for n in names) if e], base_layers=1)
    assert result.layer_sizes == (11000, 180000, 200000, 0, 0, 3000, 500, 0, 0)
    assert result.wasted_bytes == 330000  # a.bin twice (300000) + c.bin deleted (30000), as dive said
    # Smallest sizes: copyright 1000, big (deleted folder) 1000, sh 10000, a.bin 100000, c.bin 0,
    # b.bin 50000, sub (deleted folder) 50000, x, z, y 3500; cumulative adds 200000 + 30000.
    assert result.score == pytest.approx(215500 / 445500)
    assert {w.path for w in result.wasted if w.cumulative_bytes} == {"/data/a.bin", "/data/c.bin"}
    assert {w.path for w in result.wasted if not w.cumulative_bytes} == {"/tmp", "/usr/share/doc/pkg"}
    assert result.user_size_bytes == 383500
    assert result.dive_user_wasted_percent == pytest.approx(100 * 330000 / 383500)
    assert result.user_wasted_bytes == 330000


def test_user_waste_leaves_out_what_the_base_image_wasted_itself():
    result = analyze(
        [
            (0, "/etc/conf", 10, False), (1, "/etc/conf", 20, False),  # the base image's own overwrite
            (2, "/app/app.py", 100, False), (3, "/app/app.py", 100, False),  # the learner's
        ],
        base_layers=2,
    )
    assert result.wasted_bytes == 230
    assert result.user_wasted_bytes == 200
    assert result.user_size_bytes == 200
    assert result.user_wasted_percent == pytest.approx(100.0)
    assert result.dive_user_wasted_percent == pytest.approx(100 * 230 / 220)


# -- reading `docker save` ----------------------------------------------------------------------


HISTORY = {
    "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["python", "app.py"]},
    "history": [
        {"created_by": "debootstrap import"},
        {"created_by": "/bin/sh -c #(nop) WORKDIR /app"},
        {"created_by": "/bin/sh -c #(nop) COPY file:abc in /app"},
        {"created_by": "/bin/sh -c pip install x"},
        {"created_by": "/bin/sh -c #(nop)  CMD [\"python\" \"app.py\"]", "empty_layer": True},
        {"created_by": "/bin/sh -c #(nop)  LABEL org.labkit.session=abc", "empty_layer": True},
    ],
}
WASTEFUL = [
    [("bin/", None), ("bin/sh", b"x" * 1000)],
    [("app/", None)],
    [("app/", None), ("app/app.py", b"print('hi')\n" * 10)],
    [("app/", None), ("app/app.py", b"print('hello')\n" * 100), ("bin/", None), ("bin/.wh.sh", b"")],
]
DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY app.py /app/
RUN pip install x
CMD ["python", "app.py"]
"""


def test_reader_lists_layers_in_manifest_order_with_their_entries():
    saved = read_saved_image(chunks(docker_save_tar(WASTEFUL, HISTORY)))
    assert len(saved.layer_names) == 4
    assert saved.config["history"][0]["created_by"] == "debootstrap import"
    assert (3, "/bin/sh", 0, True) in saved.entries
    assert (2, "/app/app.py", 120, False) in saved.entries
    result = analyze(saved.entries, layer_count=len(saved.layer_names))
    assert result.wasted_bytes == 1000 + 120 + 1500


def test_reader_follows_a_layer_tar_that_is_a_symlink():
    saved = read_saved_image(chunks(docker_save_tar(WASTEFUL[:2], HISTORY, repeat_last=True)))
    assert len(saved.layer_names) == 3
    assert saved.layer_names[2] == saved.layer_names[0]
    assert (2, "/bin/sh", 1000, False) in saved.entries


def test_reader_hands_small_files_to_a_scanner():
    seen = []

    def scan(path, data):
        seen.append(path)
        return "found" if b"hello" in data else None

    saved = read_saved_image(chunks(docker_save_tar(WASTEFUL, HISTORY)), scan=scan)
    assert "app/app.py" in seen
    assert [hits for hits in saved.found.values()] == [[("/app/app.py", "found")]]
    assert saved.layer_of(next(iter(saved.found))) == 3


def test_reader_gives_up_after_its_time_limit():
    with pytest.raises(SavedImageTimeout):
        read_saved_image(chunks(docker_save_tar(WASTEFUL, HISTORY)), timeout=-1)


def test_reader_refuses_an_archive_without_manifest():
    with pytest.raises(ValueError, match="manifest"):
        read_saved_image(chunks(_tar([("x", b"y", None)])))


def test_history_maps_layers_to_the_final_stages_lines(make_ctx):
    ctx = make_ctx(DOCKERFILE)
    places = layer_instructions(ctx, HISTORY)
    assert {index: ins.line for index, ins in places.items()} == {1: 2, 2: 3, 3: 4}
    assert layer_instructions(make_ctx(DOCKERFILE), {"history": []}) == {}


# -- the check ------------------------------------------------------------------------------------


def _efficiency_ctx(make_ctx, layers=WASTEFUL, base_layers=1):
    build = built()
    base = {"Id": "sha256:base", "Size": 1000, "RootFS": {"Layers": ["sha256:l"] * base_layers}}
    return make_ctx(
        DOCKERFILE, build=build, image={"Id": build.image_id, "Size": 5000, "Config": {}}, base_image=base,
        session=FakeSession(archive=docker_save_tar(layers, HISTORY)),
    )


def _check(**params) -> CheckSpec:
    return CheckSpec(id="layer-efficiency", kind="layer_efficiency", points=5, title="efficiency", params=params)


def test_check_reports_figures_and_passes_without_limits(make_ctx):
    ctx = _efficiency_ctx(make_ctx)
    result = run_check(_check(), ctx)
    assert result.status is Status.PASSED
    assert "layer efficiency" in result.message and "MB" in result.message
    # /bin/sh: 1000 then deleted (smallest 0); /app/app.py: 120 then 1500 (smallest 120).
    assert ctx.facts["efficiency_percent"] == round(100 * 120 / 2620, 2)
    assert "wasted_mb" in ctx.facts and "user_wasted_mb" in ctx.facts
    assert "/bin/sh" in result.detail


def test_check_fails_below_min_efficiency_and_names_the_line(make_ctx):
    ctx = _efficiency_ctx(make_ctx)
    result = run_check(_check(min_efficiency=0.95), ctx)
    assert result.status is Status.FAILED
    assert "95 %" in result.message and "`/app/app.py`" in result.message
    assert result.location == "Dockerfile:4"  # layer 3, written by `RUN pip install x`


def test_check_fails_above_max_wasted_mb_counting_only_own_layers(make_ctx):
    ctx = _efficiency_ctx(make_ctx)
    assert run_check(_check(max_wasted_mb=0.001), ctx).status is Status.FAILED
    assert run_check(_check(max_wasted_mb=0.01), ctx).status is Status.PASSED


def test_own_waste_leaves_out_the_base_images_layers(make_ctx):
    # When all four layers belong to the base image, none of the waste is the image's own.
    ctx = _efficiency_ctx(make_ctx, base_layers=4)
    result = run_check(_check(max_wasted_mb=0.001, exclude_base_layers=True), ctx)
    assert result.status is Status.PASSED
    assert ctx.facts["user_wasted_mb"] == 0


def test_check_reads_the_image_once_for_two_checks(make_ctx):
    ctx = _efficiency_ctx(make_ctx)
    run_check(_check(), ctx)
    run_check(_check(min_efficiency=0.1), ctx)
    assert ctx.session.saved == 1


def test_check_on_an_efficient_image(make_ctx):
    ctx = _efficiency_ctx(make_ctx, layers=WASTEFUL[:3])
    result = run_check(_check(min_efficiency=0.95, max_wasted_mb=1, max_user_wasted_percent=10), ctx)
    assert result.status is Status.PASSED
    assert ctx.facts["efficiency_percent"] == 100.0


def test_figures_are_cached_by_layer_content_so_a_regrade_saves_nothing(make_ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path))

    layers = [[("bin/tool", b"x" * 100)], [("bin/tool", b"y" * 100)]]  # written twice: waste
    session = FakeSession(archive=docker_save_tar(layers, {"history": []}))

    def ctx_for(image_id):
        ctx = make_ctx()
        ctx.session = session
        ctx.build = built()
        ctx.build.image_id = image_id
        ctx.image = {"RootFS": {"Layers": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]}}
        ctx.base_image = {"RootFS": {"Layers": ["sha256:" + "1" * 64]}}
        return ctx

    first = run_check(CheckSpec("eff", "layer_efficiency", 0, "Efficiency"), ctx_for("sha256:first"))
    second = run_check(CheckSpec("eff", "layer_efficiency", 0, "Efficiency"), ctx_for("sha256:second"))
    assert session.saved == 1  # a new image id with the same layers is read from the cache
    assert first.message == second.message and "50.0" in first.message
