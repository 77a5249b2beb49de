import json

import pytest

from paintscape.cli import main
from paintscape.quickstart import quickstart


@pytest.mark.slow
def test_quickstart_learns_and_evaluate_agrees(tmp_path, capsys):
    out = tmp_path / "qs"
    summary = quickstart(out, minutes=2.0, train_count=160, test_count=8, segmenter_steps=150)
    assert "quick start done" in summary
    results = json.loads((out / "results.json").read_text())
    trained, untrained, real = results["trained"], results["untrained"], results["real"]
    # The trained generator's photos show their label maps far better than the untrained network's.
    assert trained["mask_accuracy"] > untrained["mask_accuracy"] + 0.15, results
    assert trained["class_color_error"] < 0.85 * untrained["class_color_error"], results
    assert real["mask_accuracy"] >= trained["mask_accuracy"] - 0.05
    for name in ("gallery.png", "gallery.html"):
        assert (out / name).is_file()

    # generate -> evaluate through the CLI reports the mask accuracy the quick start stated.
    assert main(["generate", str(out / "run"), str(out / "data" / "test" / "labels"), str(tmp_path / "gen"), "--device", "cpu"]) == 0
    assert main(["evaluate", str(tmp_path / "gen"), "--labels", str(out / "data" / "test" / "labels"), "--segmenter", str(out / "segmenter"), "--out", str(tmp_path / "report"), "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["metrics"]["mask_accuracy"] == pytest.approx(trained["mask_accuracy"], abs=0.02)
