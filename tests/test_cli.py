"""The ``snnrl`` command: the README's main job runs and writes what it says."""

import json

import pytest

from snnrl.cli import main


def test_simulate_writes_summary_spikes_and_raster(tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["simulate", "--out", str(tmp_path), "--time", "200", "--seed", "3"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 200
    assert summary["mean_rate_hz"]["input"] > 5  # Poisson input at U(0, 40) Hz
    assert summary["mean_rate_hz"]["exc"] > 0
    png = (tmp_path / "raster.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # same seed, same spikes
    main(["simulate", "--out", str(tmp_path / "again"), "--time", "200", "--seed", "3", "--no-plot"])
    import numpy as np

    with np.load(tmp_path / "spikes.npz") as a, np.load(tmp_path / "again" / "spikes.npz") as b:
        np.testing.assert_array_equal(a["exc"], b["exc"])


def test_bad_options_are_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--time", "-5"])
    assert "expected a positive number, got '-5'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--frobnicate"])
