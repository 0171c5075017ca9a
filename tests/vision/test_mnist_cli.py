"""``snnrl mnist`` end to end on a tiny synthetic data set, and the vision plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnrl.analysis import plot_accuracy, plot_assignments, plot_weight_grid, weight_grid
from snnrl.cli import main


def test_mnist_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mnist", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--neurons" in out and "--resume" in out and "diehl-cook" in out


@pytest.mark.parametrize("model", ["diehl-cook", "supervised", "lc"])
def test_mnist_command_small_run(idx_dir: Path, tmp_path: Path, model: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["mnist", "--model", model, "--data", str(idx_dir), "--epochs", "1", "--time", "50", "--out", str(out),
            "--no-progress", "--neurons", "20", "--n-test", "20", "--tensorboard"]
    if model == "lc":
        args += ["--filters", "2", "--kernel-size", "14", "--stride", "14"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "from IDX files" in text and "test accuracy (all_activity)" in text
    res = json.loads((out / "results.json").read_text())
    assert res["n_train"] == 60 and res["n_test"] == 20 and "logreg" in res["accuracy"]
    assert "IDX files" in res["train_source"]
    for name in ("weights.png", "assignments.png", "accuracy.png", "raster.png", "model.safetensors"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    # resume: one more epoch from the checkpoint
    assert main(["mnist", "--resume", str(out / "model.safetensors"), "--data", str(idx_dir), "--epochs", "2",
                 "--out", str(tmp_path / "resumed"), "--no-progress", "--no-plot", "--n-test", "20"]) == 0
    text = capsys.readouterr().out
    assert "resumed from" in text and "epoch 2/2: 120 images" in text
    assert json.loads((tmp_path / "resumed" / "results.json").read_text())["epochs"] == 2


def test_mnist_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line on stderr naming the files it looked for, no traceback (a DatasetNotFoundError)."""
    assert main(["mnist", "--dataset", "mnist", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--no-plot",
                 "--n-train", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl mnist: no mnist") and "t10k-images" in err[0]


def test_vision_plots(tmp_path: Path) -> None:
    w = torch.rand(784, 10)
    grid = weight_grid(w, (28, 28), columns=5)
    assert grid.shape == (2 * 29 - 1, 5 * 29 - 1) and float(grid.max()) <= 1.0
    with pytest.raises(ValueError):
        weight_grid(torch.rand(100, 3))
    assert plot_weight_grid(w, tmp_path / "w.png").stat().st_size > 0
    assert plot_assignments(torch.tensor([0, 1, -1, 9, 3]), tmp_path / "a.png").is_file()
    hist = [{"images": 250.0, "train_acc_all": 0.5}, {"images": 500.0, "train_acc_all": 0.7}]
    assert plot_accuracy(hist, tmp_path / "c.png", test={"all_activity": 0.8}).is_file()
