"""The paint page with a preview model (a distilled student): live renders while painting come from
it, "Render" from the full model, and the page shows which model rendered and how long it took."""

from __future__ import annotations

import json

import pytest
from test_web import CLASS_IDS, SIZE, browser, drag, multipart, open_page, png_bytes, request, scene  # noqa: F401

from paintscape.checkpoint import save_generator
from paintscape.cli import main
from paintscape.inference.painter import Painter
from paintscape.labels import NUM_CLASSES
from paintscape.models.base import GeneratorSpec
from paintscape.registry import GENERATORS
from paintscape.web.server import PaintServer


def spade_file(path, base_channels: int, size=SIZE):
    import paintscape.models  # noqa: F401  (registers the networks)

    kwargs = {"num_classes": NUM_CLASSES, "image_size": size, "base_channels": base_channels, "hidden_channels": 2 * base_channels, "norm": "batch"}
    save_generator(path, GENERATORS.build("spade", **kwargs), GeneratorSpec("spade", kwargs, size))
    return path


@pytest.fixture(scope="module")
def painters(tmp_path_factory):
    root = tmp_path_factory.mktemp("preview")
    full = Painter.from_checkpoint(spade_file(root / "full.safetensors", 8), device="cpu")
    preview = Painter.from_checkpoint(spade_file(root / "small.safetensors", 2), device="cpu")
    return full, preview


@pytest.fixture(scope="module")
def server(painters):
    full, preview = painters
    with PaintServer(full, port=0, preview=preview).start() as running:
        yield running


def test_api_renders_previews_with_the_preview_model(server, painters):
    status, _, body = request(server, "GET", "/api/info")
    info = json.loads(body)
    assert status == 200 and info["preview"]["model"] == "spade"
    assert info["preview"]["parameters"] < info["parameters"] / 8
    for quality in ("preview", "full"):
        form, content_type = multipart({"label": png_bytes(scene()), "quality": quality.encode()})
        status, headers, _ = request(server, "POST", "/api/render", form, {"Content-Type": content_type})
        assert status == 200 and headers["X-Render-Quality"] == quality and float(headers["X-Render-Seconds"]) > 0
    form, content_type = multipart({"label": png_bytes(scene()), "quality": b"best"})
    status, _, body = request(server, "POST", "/api/render", form, {"Content-Type": content_type})
    assert status == 400 and "quality must be preview or full, got 'best'" in json.loads(body)["error"]


def test_without_a_preview_model_previews_use_the_full_model(painters):
    full, _ = painters
    with PaintServer(full, port=0).start() as plain:
        form, content_type = multipart({"label": png_bytes(scene()), "quality": b"preview"})
        status, headers, _ = request(plain, "POST", "/api/render", form, {"Content-Type": content_type})
        assert status == 200 and headers["X-Render-Quality"] == "full"
        assert json.loads(request(plain, "GET", "/api/info")[2])["preview"] is None


def test_preview_of_another_size_is_refused(painters, tmp_path):
    full, _ = painters
    other = Painter.from_checkpoint(spade_file(tmp_path / "other.safetensors", 2, size=(32, 64)), device="cpu")
    with pytest.raises(ValueError, match="the preview model renders 64x32, the model 96x64; they must match"):
        PaintServer(full, port=0, preview=other)


def wait_quality(page, quality: str) -> None:
    page.wait_for_function(
        f"""() => {{
            const photo = document.getElementById('photo');
            return document.body.dataset.state === 'idle' && photo.dataset.quality === '{quality}'
                && photo.dataset.revision === document.body.dataset.revision;
        }}""",
        timeout=30_000,
    )


def test_page_previews_strokes_with_the_student_and_renders_with_the_full_model(browser, server):  # noqa: F811
    page, errors = open_page(browser, server)
    tree = CLASS_IDS["tree"]
    page.click(f"#palette button[data-class='{tree}']")
    drag(page, [(10, 12), (40, 12), (40, 25)])  # live is on: the stroke's renders are previews
    wait_quality(page, "preview")
    assert server.last_quality == "preview" and server.last_label[12, 20] == tree
    status = page.text_content("#status")
    assert "preview (student)" in status and " s · round trip" in status
    assert float(page.locator("#photo").get_attribute("data-seconds")) > 0
    page.click("#render")
    wait_quality(page, "full")
    assert server.last_quality == "full" and "full model" in page.text_content("#status")
    assert not errors
    page.close()


def test_paint_cli_uses_the_runs_newest_student(tmp_path, monkeypatch, capsys):
    teacher, student = tmp_path / "run", tmp_path / "run_small"
    for run, width in ((teacher, 8), (student, 2)):
        run.mkdir()
        spade_file(run / "step_1.safetensors", width)
        (run / "latest.json").write_text(json.dumps({"step": 1, "generator": "step_1.safetensors", "state": "step_1.pt"}))
    (teacher / "students.json").write_text(json.dumps({"students": ["../run_small"]}))
    served = []

    def serve_forever(self):
        served.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(PaintServer, "serve_forever", serve_forever)
    assert main(["paint", str(teacher), "--port", "0", "--device", "cpu"]) == 0
    assert served[0].preview is not None and served[0].preview.spec.args["base_channels"] == 2
    assert f"live previews while painting: {teacher / '../run_small'}" in capsys.readouterr().out
    assert main(["paint", str(teacher), "--port", "0", "--device", "cpu", "--no-preview"]) == 0
    assert served[1].preview is None
    (teacher / "students.json").write_text("{not json")
    assert main(["paint", str(teacher), "--port", "0", "--device", "cpu"]) == 2
    assert "students.json: unreadable" in capsys.readouterr().err
