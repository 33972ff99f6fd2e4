"""viz/figures.py: the one place a figure becomes a PNG (viz/ plots and the apps' figures)."""
import pytest

pytest.importorskip("matplotlib")

from lstmkit.viz.figures import figure_png, pyplot, save_figure


def _fig():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [2, 0, 1])
    return plt, fig


def test_figure_png_is_a_png_and_closes_the_figure():
    plt, fig = _fig()
    png = figure_png(fig, dpi=40)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and fig.number not in plt.get_fignums()


def test_dpi_and_tight_change_the_image():
    sizes = {}
    for dpi, tight in ((40, False), (80, False), (80, True)):
        _, fig = _fig()
        png = figure_png(fig, dpi=dpi, tight=tight)
        sizes[dpi, tight] = int.from_bytes(png[16:20], "big")  # the IHDR width
    assert sizes[40, False] * 2 == sizes[80, False] and sizes[80, True] != sizes[80, False]  # cropped to the drawn content


def test_a_failed_save_still_closes_the_figure(monkeypatch):
    plt, fig = _fig()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk")))
    with pytest.raises(RuntimeError, match="disk"):
        figure_png(fig)
    assert fig.number not in plt.get_fignums()


def test_save_figure_writes_atomically_and_replaces(tmp_path):
    p = tmp_path / "f.png"
    p.write_bytes(b"old")
    _, fig = _fig()
    out = save_figure(fig, p, dpi=30)
    assert out == p and p.read_bytes()[:4] == b"\x89PNG"
    assert [q.name for q in tmp_path.iterdir()] == ["f.png"]  # no temporary file left


@pytest.mark.parametrize("dpi", [0, -5, 1.5, True, "110"])
def test_bad_dpi_is_a_one_line_error(dpi):
    plt, fig = _fig()
    with pytest.raises(ValueError, match="^dpi must be a positive int"):
        figure_png(fig, dpi=dpi)
    plt.close(fig)
