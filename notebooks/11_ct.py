# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell", "colab-binder-setup"]
# Set-up on Colab or Binder (does nothing elsewhere, e.g. in the book build): install lungseg,
# work in the repository's folder, and fetch the chest X-ray data set once (about 104 MB).
import os
import subprocess
import sys

ON_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
if ON_COLAB or "BINDER_SERVICE_HOST" in os.environ:
    repo = os.getcwd()
    while not os.path.exists(os.path.join(repo, "pyproject.toml")) and os.path.dirname(repo) != repo:
        repo = os.path.dirname(repo)
    if ON_COLAB and not os.path.exists(os.path.join(repo, "pyproject.toml")):
        repo = "/content/lungseg"
        if not os.path.exists(repo):
            subprocess.run(["git", "clone", "--depth", "1", "https://github.com/lungseg/lungseg", repo], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo, "myst-nb"], check=True)
    sys.path.insert(0, repo)
    os.chdir(repo)
    if not os.environ.get("LUNGSEG_DATA") and not os.path.isdir("data/shenzhen_montgomery_512/images"):
        subprocess.run([sys.executable, "-m", "lungseg_lib.cli", "data", "fetch", "shenzhen-montgomery-512",
                        "--out", "data/shenzhen_montgomery_512"], check=True)

# %% [markdown]
# # Notebook 11: CT preprocessing, step by step
# The CT path turns a chest CT volume and its lung mask into the 2-D slices the models train
# on, with the preprocessing Ainala (2023) describes for CT volumes (its Sec. 3): clip to the
# HU window [-125, 275], resample to 1 mm isotropic voxels "if needed", take the central axial
# slice of 256 x 256; the centre crop or padding to that size, the interpolations and the
# 8-bit PNGs are ours (`lungseg data from-ct`, `lungseg_lib.data.ct.volume_to_slices`). The data
# that paper names, the RSNA Pneumonia Detection Challenge set, are chest X-rays, which have no
# HU, volumes or axial slices: the paper's recipe cannot have been applied to them as written.
# This page runs the steps on one real CT volume and shows each of them.
#
# **Data.** `ct-64.nrrd` and its lung mask `wholeLung-64.nrrd` are test inputs of the Chest
# Imaging Platform (CIP; R. San José Estépar et al., "Chest Imaging Platform: an open-source
# library and workstation for quantitative chest imaging", *Am J Respir Crit Care Med*
# 191:A4975, 2015; J. Onieva et al., *Int J CARS* 11(Suppl 1):S40-S41, 2016), under CIP's
# BSD-style license (`CIP_License.txt` beside the data; see its `README.md`). The data is not
# part of this repository. These volumes only exercise the path (reading, HU window,
# spacing-aware resampling, slicing): two volumes cannot train or score a CT model, and no
# accuracy is reported from them.
#
# {glue:text}`ct_status`

# %% tags=["parameters"]
ct_dir = ""  # "": $LUNGSEG_CT_DATA, else ../shared/data/ct_cip (relative to the repository root)
volume = "ct-64.nrrd"
mask = "wholeLung-64.nrrd"
window = [-125.0, 275.0]  # HU
spacing = 1.0  # mm
size = 256  # pixels
figures_dir = "_build/figures"  # relative to the repository root

# %%
from IPython.display import Image
from myst_nb import glue

from lungseg_lib import project
from lungseg_lib.report import ct, figures, tables

for key, value in ct.default_values().items():  # the CT path's defaults, for the CT chapter
    glue(f"ct_{key}", value, display=False)
ct_dir = ct.ct_folder(ct_dir)
missing = ct.missing_files(ct_dir, volume, mask)
glue("ct_status", ct.status(ct_dir, volume, mask, missing), display=False)

# %% [markdown]
# ## The three steps
# (a) an axial slice of the original volume in HU; (b) the same slice clipped to the window,
# which maps lung and air to the same black and keeps soft tissue and bone contrast;
# (c) the central slice of the volume resampled to 1 mm (trilinear for the image, nearest for
# the mask), cropped or padded to 256 x 256, with the lung mask outlined.
#
# ```{glue:figure} ct_preprocessing
# :name: fig-ct-preprocessing
#
# CT preprocessing of the volume named above (CIP test data by default): original slice, HU
# window, resampled central slice with the lung mask outlined.
# ```

# %%
if missing:
    print("CT data not found:", ", ".join(missing))
    fig = figures.message_figure("CT data not found: " + ", ".join(missing))
else:
    steps = ct.preprocessing_steps(project.repo_path(ct_dir) / volume, project.repo_path(ct_dir) / mask,
                                   window=window, spacing=spacing, size=size)
    for key, value in ct.step_values(steps).items():
        glue(f"ct_{key}", value, display=False)
    fig = figures.ct_preprocessing_figure(steps)
png, _ = figures.save(fig, "ct_preprocessing", figures_dir)
glue("ct_preprocessing", Image(filename=png), display=False)

# %% [markdown]
# ## Geometry
# Shapes are (z, y, x) voxels, spacings (x, y, z) in mm; the slice index is the index along z
# before and after resampling (the original slice nearest to the chosen one); the lung fraction
# is that of the 256 x 256 slice.

# %%
tables.html_table(ct.preprocessing_table(steps).rename_axis("Quantity").reset_index(), "Quantity") if not missing \
    else "CT data not found: no table."
