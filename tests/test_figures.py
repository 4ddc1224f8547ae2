"""The book's plotting functions (lungseg_lib.report.figures): each returns a Figure from plain
arrays and tables, in one style, readable at the size the book shows it (text at least
``figure_style.MIN_TEXT_PX`` pixels at the text width), and saves as PNG and PDF."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lungseg_lib.report import figures  # noqa: E402
from lungseg_lib.report.failures import failure_correlations  # noqa: E402


def _lungs(size=64):
    yy, xx = np.mgrid[:size, :size]
    left = (xx - size * 0.3) ** 2 / 60 + (yy - size * 0.5) ** 2 / 300 < 1
    right = (xx - size * 0.7) ** 2 / 60 + (yy - size * 0.5) ** 2 / 300 < 1
    return left | right


@pytest.fixture
def case():
    truth = _lungs()
    image = np.where(truth, 0.2, 0.7).astype(np.float32)
    pred = truth.copy()
    pred[5:9, 30:34] = True  # a stray component
    return {"name": "IMG_1", "image": image, "truth": truth, "pred": pred, "score": 0.9}


@pytest.fixture
def per_image():
    rng = np.random.default_rng(0)
    n = 30
    return pd.DataFrame({"name": [f"I{i}" for i in range(n)], "brightness": rng.uniform(0.3, 0.7, n),
                         "contrast": rng.uniform(0.1, 0.3, n), "dice_post": rng.uniform(0.8, 1.0, n)})


def _is_figure(fig):
    assert isinstance(fig, Figure)
    assert fig.number not in plt.get_fignums()  # closed in pyplot: shown once, where glued
    assert fig.get_size_inches()[0] <= figures.WIDTH + 1e-6, fig.get_size_inches()
    smallest = figures.smallest_text_px(fig)
    assert smallest >= figures.MIN_TEXT_PX, f"text {smallest:.1f} px at the book's text width"
    return True


def test_readability_is_measured():
    """A 12-inch figure with 8 pt text, shown 700 px wide, has text about 6 px high: too small."""
    fig = Figure(figsize=(12, 3), dpi=110)
    ax = fig.add_axes((0.05, 0.15, 0.9, 0.7))
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=10)
    ax.set_title("legend", fontsize=8)
    assert figures.smallest_text_px(fig) == pytest.approx(8 / 72 * 110 * 700 / (12 * 110), rel=0.1)  # less the margins
    assert figures.smallest_text_px(fig) < figures.MIN_TEXT_PX


def test_data_example_figure(case):
    fig = figures.data_example_figure(case["image"], case["truth"], "IMG_1")
    assert _is_figure(fig) and len(fig.axes) == 3
    assert "IMG_1" in fig.axes[0].get_title()


def test_postprocessing_figure_boxes_removed_components(case):
    from lungseg_lib.core.postprocess import keep_largest_components

    post = keep_largest_components(case["pred"], 2)
    assert len(post.removed_boxes) == 1
    fig = figures.postprocessing_figure(case["image"], case["pred"], post.mask, case["truth"],
                                        post.removed_boxes, scores=(0.9, 0.95))
    assert _is_figure(fig)
    boxes = [p for p in fig.axes[1].patches if p.get_edgecolor()[:3] == matplotlib.colors.to_rgb(figures.REMOVED_COLOR)]
    assert len(boxes) == 1
    assert "0.950" in fig.axes[2].get_title()


def test_cases_figure_grid_and_empty(case):
    fig = figures.cases_figure({"best": [case, case], "median": [case], "worst": [case, case]})
    assert _is_figure(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    empty = figures.cases_figure({"best": []})
    assert _is_figure(empty) and "no test image" in empty.texts[0].get_text()


def test_distribution_and_correlation_figures(per_image):
    long = pd.DataFrame({"title": ["A"] * 30 + ["B"] * 30, "value": np.r_[per_image.dice_post, per_image.dice_post]})
    assert _is_figure(figures.distribution_figure(long))
    assert "no evaluated run" in figures.distribution_figure(long.iloc[:0]).texts[0].get_text()
    corr = failure_correlations(per_image)
    fig = figures.correlation_figure(per_image, "dice_post", corr)
    assert _is_figure(fig) and len(fig.axes) == 3
    assert fig.axes[0].get_title().startswith("Spearman \u03c1")


def test_curves_figure():
    """One panel per model (Dice, training solid and validation dashed, a line per seed), the
    learning rate on a second axis beside them, and a legend panel."""
    one = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.4],
                        "dice": [0.5, 0.7, 0.8], "val_dice": [0.4, 0.6, 0.7], "learning_rate": [1e-3, 5e-4, 2.5e-4]})
    history = pd.concat([one.assign(title="A", seed=0), one.assign(title="A", seed=1), one.assign(title="B", seed=0)])
    fig = figures.curves_figure(history)
    assert _is_figure(fig)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["A (2 seeds)", "B"]
    assert len(panels[0].lines) == 4 and panels[0].get_ylabel() == "Dice"  # 2 seeds x (training, validation)
    rates = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert len(rates) == 2 and len(rates[0].lines) == 2  # the learning rate of each seed, log scale
    assert "no training history" in figures.curves_figure(history.iloc[:0]).texts[0].get_text()


def test_message_figure_and_save(tmp_path):
    from IPython.core.pylabtools import print_figure

    fig = figures.message_figure("run runs/cpu/x is missing")
    assert _is_figure(fig)
    assert print_figure(fig, "png")  # a notebook shows it as an image, not "<Figure size ...>"
    paths = figures.save(fig, "missing", tmp_path / "figs")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:4] == b"%PDF"


def test_one_style():
    figures.message_figure("x")
    for key, value in figures.STYLE.items():
        assert matplotlib.rcParams[key] == value


def test_model_stages_and_architecture_figure():
    """Stages come from the built model: decN_* layers form one block, with their output shape."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 1), name="image")
    x = layers.Conv2D(4, 3, strides=4, padding="same", name="encoder")(inputs)
    for i, filters in enumerate((8, 4)):
        x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{i}_conv")(x)
        x = layers.BatchNormalization(name=f"dec{i}_bn")(x)
    x = layers.Conv2D(2, 1, name="head_conv")(x)
    outputs = layers.Activation("softmax", name="prediction")(x)
    model = keras.Model(inputs, outputs, name="toy")

    stages = figures.model_stages(model)
    assert [s["name"] for s in stages] == ["image", "encoder", "dec0", "dec1", "head"]
    assert [s["shape"] for s in stages] == [(32, 32, 1), (8, 8, 4), (16, 16, 8), (32, 32, 4), (32, 32, 2)]
    assert stages[2]["ops"] == ["upsample x2", "conv 3x3, 8\nrelu", "batch norm"]
    assert stages[-1]["ops"] == ["conv 1x1, 2", "softmax"] and stages[0]["ops"] == [""]
    assert sum(s["params"] for s in stages) == model.count_params()
    fig = figures.architecture_figure(model)
    assert _is_figure(fig)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "16x16x8\n" in " ".join(t.get_text() + "\n" for t in fig.axes[0].texts) and "decoder block 2" in texts


def test_robustness_figures(case):
    rows = [{"model": m, "title": m.upper(), "family": f, "severity": s, "value": 0.9 - 0.01 * s}
            for m in ("a", "b") for f in ("jpeg", "gamma_up", "pixelate") for s in range(6)]
    fig = figures.robustness_figure(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.has_data()]
    assert len(panels) == 3 and [ax.get_title() for ax in panels] == ["jpeg", "gamma up", "pixelate"]
    assert len(panels[0].lines) == 2 and list(panels[0].lines[0].get_xdata()) == list(range(6))
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["clean", "q 50", "q 30", "q 15", "q 10", "q 7"]
    assert _is_figure(fig)
    assert figures.robustness_figure(pd.DataFrame(columns=["model"])).texts  # a message, no plot
    images = {(f, s): case["image"] * (1 - 0.1 * s) for f in ("brightness_down", "gamma_up") for s in range(3)}
    masks = {k: case["truth"] for k in images}
    fig = figures.severity_example_figure(images, masks, case["truth"], "IMG_1")
    grid = [ax for ax in fig.axes if ax.images]
    assert len(grid) == 6 and grid[0].get_title() == "clean" and grid[2].get_title() == "x0.8"  # its parameter
    assert grid[3].get_ylabel() == "gamma\nup" and grid[4].get_title() == "\u03b3 1.1"
    assert _is_figure(fig)
    # one fixed grey range: the darkened image is darker in the figure, not stretched back
    clean, darker = (grid[i].images[0].get_array().astype(float).mean() for i in (0, 2))
    assert darker < clean - 5
