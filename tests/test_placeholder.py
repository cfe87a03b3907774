"""`sync --placeholder`: real image files of the right shape, never over a real figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from figbuild import images
from figbuild.lockfile import read

from .conftest import simple_manifest


@pytest.mark.parametrize(
    ("output", "fmt"), [("figures/a.png", "PNG"), ("figures/a.jpg", "JPEG"), ("figures/a.jpeg", "JPEG")]
)
def test_raster_formats_open_with_the_right_size(make_paper, run_cli, output: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(
        simple_manifest(a={"prompt": "x", "output": output, "aspect_ratio": "16:9", "resolution": "2K"})
    )
    result = run_cli("sync", "--placeholder", root=root)
    assert result.exit_code == 0, result.output
    with Image.open(root / output) as image:
        assert image.format == fmt
        # 2K is 2048 on the long side; placeholders are drawn at half size.
        assert image.size == (1024, 576)


def test_pdf_output_is_a_pdf(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(a={"prompt": "x", "output": "out/a.pdf"}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    data = (root / "out/a.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert images.verify(root / "out/a.pdf") == "PDF"


@pytest.mark.parametrize("ratio", ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"])
def test_every_aspect_ratio_is_kept(make_paper, run_cli, ratio: str) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(a={"prompt": "x", "aspect_ratio": ratio}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    with Image.open(root / "figures/a.png") as image:
        width, height = image.size
    w, h = (int(n) for n in ratio.split(":"))
    assert abs(width / height - w / h) < 0.01
    assert max(width, height) == 512  # 1K at half size


def test_placeholder_shows_the_id_and_is_marked(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    # Legibility is checked as a person would: the card differs from a blank one
    # where text is drawn, and the lock marks it as a placeholder.
    root = make_paper(simple_manifest(overview={"prompt": "Architecture of {{ method }}"}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    with Image.open(root / "figures/overview.png") as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None
    assert len(colours) > 10, "text is drawn, not a blank card"
    record = read(root / "figures.lock").record("overview")
    assert record.generated is not None
    assert record.generated.provisional
    assert record.generated.how == "placeholder"
    status = run_cli("status", "--json", root=root)
    assert '"placeholder"' in status.output


def test_never_overwrites_a_real_or_hand_made_figure(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(mine={"prompt": "x"}, new={"prompt": "y"}))
    figure = root / "figures/mine.png"
    figure.parent.mkdir()
    Image.new("RGB", (10, 10), "blue").save(figure)
    before = figure.read_bytes()
    result = run_cli("sync", "--placeholder", root=root)
    assert result.exit_code == 0
    assert figure.read_bytes() == before
    assert "placeholders never replace" in result.output
    assert (root / "figures/new.png").exists()


def test_placeholder_is_redrawn_when_its_inputs_change(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(a={"prompt": "first"}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    first = (root / "figures/a.png").read_bytes()
    (root / "figures.yaml").write_text((root / "figures.yaml").read_text().replace("first", "second"))
    status = run_cli("status", root=root)
    assert "placeholder; prompt changed" in status.output
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    assert (root / "figures/a.png").read_bytes() != first


def test_no_temp_files_are_left(make_paper, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = make_paper(simple_manifest(a={"prompt": "x"}, b={"prompt": "y", "output": "figures/b.pdf"}))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    assert sorted(p.name for p in (root / "figures").iterdir()) == ["a.png", "b.pdf"]


def test_example_paper_placeholders(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    import shutil

    example = Path(__file__).resolve().parent.parent / "example-paper"
    root = tmp_path / "paper"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("figures", "figures.lock", ".figbuild"))
    assert run_cli("sync", "--placeholder", root=root).exit_code == 0
    result = run_cli("status", "--json", root=root)
    import json

    rows = json.loads(result.output)
    assert {row["id"] for row in rows} == {"overview", "training-loop", "appendix-details", "teaser"}
    assert all(row["state"] == "stale" and row["reasons"] == ["placeholder"] for row in rows)
