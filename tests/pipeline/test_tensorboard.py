"""TensorBoard logs of a training run, read back with TensorBoard's EventAccumulator."""

import pytest

from snnrl.pipeline.run import train_agent

ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}


def test_training_run_logs_what_it_says(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    raw = "reward.signal={type = \"RawReward\"}"  # the modulator is the reward (checked below)
    res = train_agent("agents/cue_bandit.toml", ["training.image_interval=4", raw], runs_dir=tmp_path, episodes=8,
                      progress=False, plot=False, eval_episodes=2)
    run = res.run_dir
    ea = EventAccumulator(run, size_guidance=ALL)
    ea.Reload()
    tags = ea.Tags()
    returns = ea.Scalars("episode/return")
    assert [e.step for e in returns] == list(range(1, 9))
    assert [e.value for e in returns] == res.train_returns
    assert [e.value for e in ea.Scalars("episode/length")] == [20.0] * 8
    for tag in ("reward/modulator_mean", "reward/modulator_abs", "rates/X", "rates/A", "weights/X->A/norm",
                "weights/X->A/mean", "train/steps_per_second", "hparams/mean_return", "eval/mean_return"):
        assert tag in tags["scalars"], tag
    rates = [e.value for e in ea.Scalars("rates/X")]
    assert all(200 < r < 300 for r in rates)  # one of 2 inputs at 500 Hz
    # RawReward: the mean modulator per step is the mean reward per step
    for mod, ret in zip(ea.Scalars("reward/modulator_mean"), res.train_returns, strict=True):
        assert mod.value == pytest.approx(ret / 20)
    hist = ea.Histograms("weights/X->A")
    assert [h.step for h in hist] == [4, 8] and hist[0].histogram_value.num == 20
    raster = ea.Images("images/raster")
    assert [im.step for im in raster] == [4, 8]
    assert raster[0].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and raster[0].width == 8 * 16 * 2
    assert ea.Images("images/weights/X->A")[0].height == 2
    assert "config/agent/text_summary" in tags["tensors"]
    content = ea.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in content and "_hparams_/session_start_info" in content
    assert b"training.seed" in content["_hparams_/session_start_info"]
