"""Aesthetic predictor (tiny random CLIP + random MLP) and the track score formula."""

from __future__ import annotations

import pytest
import torch
import transformers  # a core dependency (SegFormer, CLIP): never a reason to skip

from paintscape.evaluate import aesthetic
from paintscape.evaluate.score import TrackScore, fid_term, track_score

# --- track score ---------------------------------------------------------------------------------


def test_track_score_full():
    # 0.8 * (0.5 * 0.6 + 0.5 * (100 - 40) / 100) = 0.8 * (0.3 + 0.3) = 0.48
    result = track_score(0.8, 40.0, 0.6)
    assert result.score == pytest.approx(0.48)
    assert result.partial is False and result.fid_term == pytest.approx(0.6)


def test_track_score_fid_capped_at_100():
    assert track_score(0.5, 250.0, 0.4).score == pytest.approx(0.5 * 0.5 * 0.4)
    assert fid_term(100.0) == 0.0 and fid_term(0.0) == 1.0


def test_track_score_partial_is_aesthetic_zero_lower_bound():
    partial = track_score(0.9, 20.0, None)
    assert partial == TrackScore(pytest.approx(0.9 * 0.5 * 0.8), True, pytest.approx(0.8))
    assert partial.score == pytest.approx(track_score(0.9, 20.0, 0.0).score)
    assert partial.score <= track_score(0.9, 20.0, 0.3).score


@pytest.mark.parametrize("args", [(1.2, 10.0, 0.5), (0.5, -1.0, 0.5), (0.5, 10.0, 1.5), (float("nan"), 1.0, None)])
def test_track_score_rejects_out_of_range(args):
    with pytest.raises(ValueError):
        track_score(*args)


# --- aesthetic predictor -------------------------------------------------------------------------


def _tiny_files(tmp_path, projection_dim=8):
    torch.manual_seed(0)
    config = transformers.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, projection_dim=projection_dim, num_hidden_layers=2,
        num_attention_heads=2, image_size=32, patch_size=8,
    )  # fmt: skip
    transformers.CLIPVisionModelWithProjection(config).save_pretrained(tmp_path / "clip")
    mlp = aesthetic.AestheticMLP(input_size=projection_dim)
    torch.save(mlp.state_dict(), tmp_path / aesthetic.MLP_FILE)
    return tmp_path / "clip", tmp_path / aesthetic.MLP_FILE


def test_mlp_keys_match_the_laion_file_layout():
    keys = set(aesthetic.AestheticMLP().state_dict())
    assert keys == {f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")}
    assert aesthetic.AestheticMLP().layers[0].weight.shape == (1024, 768)


def test_mlp_file_from_a_lightning_checkpoint_loads_and_another_file_is_named(tmp_path):
    torch.manual_seed(0)
    mlp = aesthetic.AestheticMLP(input_size=8)
    torch.save({"state_dict": mlp.state_dict(), "epoch": 3}, tmp_path / "lightning.ckpt")
    loaded = aesthetic.load_aesthetic_mlp(tmp_path / "lightning.ckpt")
    assert all(torch.equal(a, b) for a, b in zip(mlp.state_dict().values(), loaded.state_dict().values()))
    torch.save({"fc.weight": torch.zeros(1, 8)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth' is not an improved-aesthetic-predictor MLP \(no 'layers.0.weight'\)"):
        aesthetic.load_aesthetic_mlp(tmp_path / "other.pth")


def test_pipeline_scores_in_unit_interval(tmp_path):
    clip_dir, mlp_path = _tiny_files(tmp_path)
    predictor = aesthetic.LaionAestheticPredictor.from_paths(clip_dir, mlp_path)
    assert isinstance(predictor, aesthetic.AestheticPredictor)
    images = torch.rand(3, 3, 40, 56) * 2 - 1
    scores = predictor.score(images)
    assert scores.shape == (3,)
    assert bool(((scores >= 0) & (scores <= 1)).all())
    # the unit score is the clipped (rating - 1) / 9 of the raw rating, on normalised embeddings
    with torch.no_grad():
        emb = predictor.embed(images)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
        torch.testing.assert_close(scores, ((predictor.rating(images) - 1) / 9).clamp(0, 1))


def test_full_clip_folder_loads_vision_tower_with_its_projection(tmp_path):
    # the hub's openai/clip-vit-large-patch14 is a full CLIPModel (text + vision) folder
    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=50, max_position_embeddings=8),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=8,
    )  # fmt: skip
    clip = transformers.CLIPModel(config).eval()
    clip.save_pretrained(tmp_path / "clip")
    torch.save(aesthetic.AestheticMLP(input_size=8).state_dict(), tmp_path / "mlp.pth")
    predictor = aesthetic.LaionAestheticPredictor.from_paths(tmp_path / "clip", tmp_path / "mlp.pth")
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        pixels = aesthetic.clip_preprocess(images, 32)
        expected = clip.get_image_features(pixel_values=pixels)
        expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
        expected = expected / expected.norm(dim=-1, keepdim=True)
        torch.testing.assert_close(predictor.embed(images), expected)


def test_rating_to_unit_clips():
    out = aesthetic.rating_to_unit(torch.tensor([0.0, 1.0, 5.5, 10.0, 12.0]))
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_missing_files_name_what_to_download(tmp_path):
    clip_dir, mlp_path = _tiny_files(tmp_path)
    with pytest.raises(FileNotFoundError, match="clip-vit-large-patch14"):
        aesthetic.LaionAestheticPredictor.from_paths(tmp_path / "no-clip", mlp_path)
    with pytest.raises(FileNotFoundError) as err:
        aesthetic.LaionAestheticPredictor.from_paths(clip_dir, tmp_path / "no.pth")
    assert aesthetic.MLP_FILE in str(err.value) and aesthetic.MLP_URL in str(err.value)


def test_embedding_size_mismatch_is_explained(tmp_path):
    clip_dir, _ = _tiny_files(tmp_path)
    torch.save(aesthetic.AestheticMLP(input_size=768).state_dict(), tmp_path / "big.pth")
    with pytest.raises(ValueError, match="768-d"):
        aesthetic.LaionAestheticPredictor.from_paths(clip_dir, tmp_path / "big.pth")
