"""The readers of the oneDNN check and of same-seed retrains (lungseg_lib.report.reproducibility)."""
from pathlib import Path

import pandas as pd
import pytest

from lungseg_lib.report import reproducibility as rep


def _setting(sha, env=None, cpu="X"):
    return {"env": env or {}, "loss": [0.5, 0.25], "weights_sha256": sha, "cpu_isa": "avx2", "cpu_model": cpu}


def _record(cpu="X", **sha):
    names = {"default": "a", "default (again)": "a", "isa AVX": "b", "isa SSE41": "c",
             "onednn off": "a", "onednn off, isa SSE41": "c"}
    names.update({k.replace("_", " "): v for k, v in sha.items()})
    return {"settings": {k: _setting(v, cpu=cpu) for k, v in names.items()}}


def test_findings_follow_the_hashes():
    f = rep.onednn_findings(_record())
    assert f["rerun_identical"] and f["isa_cap_changes_weights"]
    assert not f["opts_off_changes_weights"] and f["isa_cap_acts_with_opts_off"]
    f = rep.onednn_findings({"settings": {**_record()["settings"], "default (again)": _setting("z")}})
    assert not f["rerun_identical"]


def test_table_marks_settings_equal_to_default():
    t = rep.onednn_table([_record()])
    assert list(t["Same weights as default"]) == ["yes", "yes", "no", "no", "yes", "no"]
    assert t.loc[0, "Environment"] == "(none)" and set(t["Same weights on another machine"]) == {"none"}


def test_cross_machine_findings_compare_every_setting():
    other = _record(cpu="Y", default="p", isa_AVX="q", onednn_off="p")
    other["settings"]["default (again)"] = _setting("p", cpu="Y")
    f = rep.cross_machine_findings([_record(), other])
    assert f["any_setting_identical"] and not f["defaults_identical"] and not f["same_cap_identical"]
    t = rep.onednn_table([_record(), other])
    assert t.loc[3, "Same weights on another machine"] == "Y (avx2): isa SSE41; Y (avx2): onednn off, isa SSE41"
    apart = _record(cpu="Y", default="p", isa_AVX="q", isa_SSE41="r", onednn_off="p")
    apart["settings"].update({"default (again)": _setting("p", cpu="Y"),
                              "onednn off, isa SSE41": _setting("s", cpu="Y")})
    f = rep.cross_machine_findings([_record(), apart])
    assert not f["any_setting_identical"]
    assert "no setting gave the same weights on two machines" in rep.cross_machine_sentence(f)
    assert "Only one machine" in rep.cross_machine_sentence(rep.cross_machine_findings([_record()]))


def test_missing_record_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="onednn.json"):
        rep.read_record(tmp_path / "onednn.json")
    with pytest.raises(FileNotFoundError, match="onednn_check.py"):
        rep.read_onednn_records(tmp_path)


def _run(path, scores, losses):
    path.mkdir()
    pd.DataFrame({"name": ["a", "b"], "dice_post": scores}).to_csv(path / "per_image.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "loss": losses, "seconds": [1.0, 2.0]}).to_csv(path / "history.csv", index=False)


def test_compare_runs(tmp_path):
    _run(tmp_path / "a", [0.9, 0.8], [0.5, 0.4])
    _run(tmp_path / "b", [0.9, 0.7], [0.5, 0.4])
    c = rep.compare_runs(tmp_path / "a", tmp_path / "b")
    assert c["max_abs_image_diff"] == pytest.approx(0.1)
    assert c["history_identical"]  # the seconds column is not part of the comparison
    assert c["mean_a"] == pytest.approx(0.85) and c["mean_b"] == pytest.approx(0.8)


def test_committed_records_are_readable():
    records = rep.read_onednn_records(Path(__file__).parents[1] / rep.ONEDNN_FOLDER)
    for record in records:
        assert set(rep.onednn_findings(record)) >= {"rerun_identical", "isa_cap_changes_weights"}
    assert len(rep.cross_machine_findings(records)["machines"]) == len(records)


def test_sentences_say_what_was_measured():
    text = rep.onednn_sentence(rep.onednn_findings(_record()))
    assert "bit-identical" in text and "changed the weights" in text and "cap still acted" in text
    assert rep.rerun_sentence(None).startswith("not measured")
    record = {"model": "unet", "profile": "cpu", "seed": 0, "devices": ["X", "X"], "history_identical": True,
              "max_abs_image_diff": 0.0, "mean_a": 0.95, "mean_b": 0.95}
    assert "exactly" in rep.rerun_sentence(record) and "same machine" in rep.rerun_sentence(record)
    assert "moved" in rep.rerun_sentence({**record, "max_abs_image_diff": 0.01})
