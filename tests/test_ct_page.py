"""The book's CT page: lungseg_lib.report.ct (the preprocessing steps, the data folder) and the
notebook 11_ct, with the CT data missing and present."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_preprocessing_steps_table_and_figure(chest):
    from lungseg_lib.report import ct, figures

    steps = ct.preprocessing_steps(*chest)
    assert steps["shape_before"] == (24, 100, 120) and steps["shape_after"] == (60, 70, 84)
    assert steps["slice_index"] == 30 and steps["original_index"] == 12
    assert steps["slice"].shape == steps["mask"].shape == (256, 256)
    assert steps["clipped"].min() == -125 and steps["raw"].min() == -1000
    table = ct.preprocessing_table(steps)
    assert table.loc["axial slice index"].tolist() == ["12", "30"]
    assert len(figures.ct_preprocessing_figure(steps).axes) == 5  # three panels, two colour bars


def test_the_ct_folder_is_the_parameter_else_the_environment_else_the_shared_copy(monkeypatch):
    from lungseg_lib.report import ct

    monkeypatch.delenv(ct.CT_ENV, raising=False)
    assert ct.ct_folder() == ct.DEFAULT_CT_DIR == "../shared/data/ct_cip"
    monkeypatch.setenv(ct.CT_ENV, "/data/ct")
    assert ct.ct_folder() == "/data/ct" and ct.ct_folder("elsewhere") == "elsewhere"
    assert ct.missing_files("/nowhere", "a.nrrd", "b.nrrd") == ["/nowhere/a.nrrd", "/nowhere/b.nrrd"]
    assert "(or LUNGSEG_CT_DATA)" in ct.status("/nowhere", "a.nrrd", "b.nrrd", ["/nowhere/a.nrrd"])


def test_ct_notebook_is_stripped_with_one_parameters_cell():
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks/11_ct.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1


@pytest.mark.parametrize("data", ["missing", "real"])
def test_ct_notebook_runs(tmp_path, data, request):
    import json

    from lungseg_lib.notebooks import run_notebook

    ct_dir = str(request.getfixturevalue("real_ct_dir") if data == "real" else tmp_path / "nothing")
    out = run_notebook("ct", tmp_path / "ct.ipynb", {"ct_dir": ct_dir, "figures_dir": str(tmp_path)})
    records = {o["metadata"]["scrapbook"]["name"]: o["data"]
               for c in json.loads(out.read_text(encoding="utf-8"))["cells"] for o in c.get("outputs", [])
               if "scrapbook" in o.get("metadata", {})}
    assert "application/papermill.record/image/png" in records["ct_preprocessing"]
    assert (tmp_path / "ct_preprocessing.png").exists() and (tmp_path / "ct_preprocessing.pdf").exists()
    status = records["ct_status"]["application/papermill.record/text/plain"]
    if data == "missing":
        assert "missing" in status and "ct_slice_index" not in records
    else:
        assert "ct-64.nrrd" in status
        assert records["ct_slice_index"]["application/papermill.record/text/plain"] == "157.0"
