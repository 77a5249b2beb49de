"""SCP-Diff's noise priors: statistics on hand-made latents against direct computations, the fallback
chain, the file format, and the distribution of the starting latent. Pure torch (no diffusers)."""

import json

import pytest
import torch

from paintscape.models.diffusion.priors import (
    NoisePriors,
    PriorAccumulator,
    PriorsError,
    compute_priors,
    ids_from_one_hot,
    labels_at_latent_size,
    starting_latent,
)

K, C, h, w = 5, 2, 3, 4


def hand_made(n=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(n, C, h, w, generator=g) * 2 + torch.arange(C).view(1, C, 1, 1)
    labels = torch.randint(0, 3, (n, h, w), generator=g)  # classes 0..2 common, 3 and 4 never
    labels[:, 0, 0] = 3  # class 3 only ever at (0, 0)
    labels[0, 2, 3] = 255  # one ignored cell
    labels[1, 2, 3] = 4  # class 4 once
    return latents, labels


def accumulate(latents, labels, splits):
    acc = PriorAccumulator(K, C, (h, w))
    for x, y in zip(latents.split(splits), labels.split(splits)):
        acc.update(x, y)
    return acc.result({"image_size": [h * 8, w * 8]})


def test_statistics_per_position_class_and_pair_match_direct_computation():
    latents, labels = hand_made()
    priors = accumulate(latents, labels, [4, 1, 4])
    x = latents.double()
    torch.testing.assert_close(priors.spatial_mean.double(), x.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(priors.spatial_var.double(), x.var(0, unbiased=False), atol=1e-6, rtol=0)
    assert priors.images == 9
    cells = x.permute(0, 2, 3, 1)  # (n, h, w, C)
    for k in range(K):
        chosen = cells[labels == k]
        assert priors.class_count[k] == len(chosen)
        if len(chosen):
            torch.testing.assert_close(priors.class_mean[k].double(), chosen.mean(0), atol=1e-6, rtol=0)
            torch.testing.assert_close(priors.class_var[k].double(), chosen.var(0, unbiased=False), atol=1e-6, rtol=0)
        for y in range(h):
            for xx in range(w):
                at = x[:, :, y, xx][labels[:, y, xx] == k]
                assert priors.joint_count[k, y, xx] == len(at)
                if len(at):
                    torch.testing.assert_close(priors.joint_mean[k, :, y, xx].double(), at.mean(0), atol=1e-6, rtol=0)
                    torch.testing.assert_close(
                        priors.joint_var[k, :, y, xx].double(), at.var(0, unbiased=False), atol=1e-6, rtol=0
                    )
    # the ignored cell counts in the spatial prior only
    assert priors.joint_count[:, 2, 3].sum() == 8 and priors.class_count.sum() == 9 * h * w - 1


def test_streaming_equals_one_pass_and_far_from_zero_mean_is_exact():
    latents, labels = hand_made()
    latents = latents + 1000.0  # a naive sum of squares in float32 would lose the variance here
    one = accumulate(latents, labels, [9])
    many = accumulate(latents, labels, [1, 2, 3, 3])
    for name in ("spatial_mean", "spatial_var", "class_mean", "class_var", "joint_mean", "joint_var"):
        torch.testing.assert_close(getattr(many, name), getattr(one, name), atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(many.spatial_var.double(), latents.double().var(0, unbiased=False), atol=1e-4, rtol=1e-5)


def test_moments_fall_back_from_joint_to_class_to_spatial():
    latents, labels = hand_made()
    priors = accumulate(latents, labels, [9])
    query = labels[:2].clone()
    query[0, 1, 1] = 3  # class 3 seen 9 times, but never at (1, 1): joint -> class
    query[1, 0, 1] = 4  # class 4 seen once: class -> spatial (min_count 2)
    query[1, 1, 2] = 255  # ignored: spatial
    mean, var = priors.moments("joint", query, min_count=2)
    assert mean.shape == var.shape == (2, C, h, w)
    torch.testing.assert_close(mean[0, :, 0, 0], priors.joint_mean[3, :, 0, 0])  # 9 samples at (0, 0)
    torch.testing.assert_close(mean[0, :, 1, 1], priors.class_mean[3])
    torch.testing.assert_close(var[0, :, 1, 1], priors.class_var[3])
    torch.testing.assert_close(mean[1, :, 0, 1], priors.spatial_mean[:, 0, 1])
    torch.testing.assert_close(var[1, :, 1, 2], priors.spatial_var[:, 1, 2])
    # a common pair with enough samples uses its own statistics
    k = int(query[0, 2, 2])
    assert priors.joint_count[k, 2, 2] >= 2
    torch.testing.assert_close(mean[0, :, 2, 2], priors.joint_mean[k, :, 2, 2])
    # the class prior ignores positions, the spatial prior ignores classes
    class_mean, _ = priors.moments("class", query, min_count=2)
    torch.testing.assert_close(class_mean[0, :, 0, 0], priors.class_mean[3])
    spatial_mean, spatial_var = priors.moments("spatial", query)
    torch.testing.assert_close(spatial_mean, priors.spatial_mean.expand(2, -1, -1, -1))
    # raising min_count above every pair's count turns the joint prior into the class prior
    joint_all_class, _ = priors.moments("joint", query[:1], min_count=10)
    class_only, _ = priors.moments("class", query[:1], min_count=10)
    torch.testing.assert_close(joint_all_class, class_only)
    with pytest.raises(ValueError, match="prior must be one of"):
        priors.moments("none", query)
    with pytest.raises(PriorsError, match="3x4 latent grid, not 2x2"):
        priors.moments("joint", query[:, :2, :2])


def test_file_round_trip_and_errors(tmp_path):
    latents, labels = hand_made()
    priors = accumulate(latents, labels, [9])
    path = tmp_path / "priors.safetensors"
    priors.save(path)
    loaded = NoisePriors.load(path)
    for name in (
        "spatial_mean",
        "spatial_var",
        "class_count",
        "class_mean",
        "class_var",
        "joint_count",
        "joint_mean",
        "joint_var",
    ):
        assert torch.equal(getattr(loaded, name), getattr(priors, name))
    assert loaded.images == 9 and loaded.info["image_size"] == [24, 32] and loaded.source == str(path)
    with pytest.raises(PriorsError, match="priors file not found"):
        NoisePriors.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(PriorsError, match="not a paintscape priors file"):
        NoisePriors.load(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    tensors = {
        k: getattr(priors, k).contiguous()
        for k in ("spatial_mean", "spatial_var", "class_count", "class_mean", "class_var", "joint_count", "joint_mean")
    }
    tensors["joint_var"] = torch.zeros(K, C, h, w + 1)
    save_file(
        tensors,
        tmp_path / "bad.safetensors",
        metadata={"paintscape_priors": json.dumps({"format": "paintscape-noise-priors"})},
    )
    with pytest.raises(PriorsError, match="inconsistent priors file: joint_var"):
        NoisePriors.load(tmp_path / "bad.safetensors")
    tensors["joint_var"] = priors.joint_var.contiguous()
    save_file(tensors, tmp_path / "other.safetensors", metadata={"paintscape_priors": json.dumps({"format": "someone-else"})})
    with pytest.raises(PriorsError, match=r"other.safetensors: not a paintscape priors file \(format 'someone-else'\)"):
        NoisePriors.load(tmp_path / "other.safetensors")


def test_labels_at_latent_size_reads_cell_centres_and_one_hot_keeps_ignored():
    label = torch.arange(64).view(1, 8, 8)  # id = 8 * row + column
    small = labels_at_latent_size(label, (2, 2))  # cells of 4x4 pixels; centre pixel (2, 2) of each
    assert small.tolist() == [[[18, 22], [50, 54]]]
    ids = torch.tensor([[[0, 3], [255, 28]]])
    one_hot = torch.nn.functional.one_hot(ids.clamp(max=28), 29).permute(0, 3, 1, 2).float()
    one_hot[:, :, 1, 0] = 0
    assert ids_from_one_hot(one_hot).tolist() == ids.tolist()


def test_compute_priors_encodes_each_batch_and_reads_labels_at_latent_size():
    g = torch.Generator().manual_seed(1)
    photos = torch.rand(6, 3, 8, 8, generator=g) * 2 - 1
    labels = torch.randint(0, K, (6, 8, 8), generator=g)

    def encode(x):  # a stand-in for generator.encode_photos: 2x2 average pooling, 2 channels
        return torch.nn.functional.avg_pool2d(x[:, :2], 2)

    priors = compute_priors(
        encode, [(photos[:4], labels[:4]), (photos[4:], labels[4:])], num_classes=K, info={"image_size": [8, 8]}
    )
    direct = PriorAccumulator(K, 2, (4, 4))
    direct.update(encode(photos), labels_at_latent_size(labels, (4, 4)))
    expected = direct.result()
    torch.testing.assert_close(priors.joint_mean, expected.joint_mean)
    torch.testing.assert_close(priors.class_var, expected.class_var)
    with pytest.raises(ValueError, match="no batches"):
        compute_priors(encode, [], num_classes=K)


def test_starting_latent_has_the_noised_prior_distribution():
    # x_s = sqrt(abar)(mu + sigma n1) + sqrt(1 - abar) n2: mean sqrt(abar) mu, var abar sigma^2 + 1 - abar
    mean = torch.tensor([[-2.0, 0.5, 3.0]])
    var = torch.tensor([[0.25, 1.0, 4.0]])
    alpha_bar = 0.3
    noise = torch.randn(200_000, 1, 3, generator=torch.Generator().manual_seed(0))
    draws = starting_latent(mean, var, noise, alpha_bar)
    expected_var = alpha_bar * var + 1 - alpha_bar
    torch.testing.assert_close(draws.mean(0), alpha_bar**0.5 * mean, atol=0.015, rtol=0)
    torch.testing.assert_close(draws.var(0), expected_var, atol=0.03, rtol=0.01)
    # and it matches drawing the two noises separately, as SCP-Diff's code does
    n1, n2 = torch.randn(2, 200_000, 1, 3, generator=torch.Generator().manual_seed(1))
    two = alpha_bar**0.5 * (mean + var.sqrt() * n1) + (1 - alpha_bar) ** 0.5 * n2
    torch.testing.assert_close(two.var(0), draws.var(0), atol=0.05, rtol=0.01)


def test_priors_of_a_one_pass_run_are_refused_and_files_are_found_beside_their_generator(tmp_path, capsys):
    from train_helpers import make_data, tiny_config

    from paintscape.cli import main
    from paintscape.inference.priors import default_priors_path
    from paintscape.train.trainer import train

    run = tmp_path / "run"
    train(tiny_config(make_data(tmp_path / "data", count=4), "train.phases[0].steps=1", family="pix2pix"), run, progress=False)
    assert main(["priors", str(run)]) == 2
    assert "a pix2pix generator draws no diffusion noise; priors are for diffusion runs" in capsys.readouterr().err
    assert main(["priors", str(run), "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1, got 0" in capsys.readouterr().err
    assert not (run / "priors.safetensors").exists()
    step = run / "checkpoints" / "step_00000001.safetensors"
    assert default_priors_path(run) == default_priors_path(run / "latest") == default_priors_path(step) == run / "priors.safetensors"
    assert default_priors_path(tmp_path / "g.safetensors") == tmp_path / "g.priors.safetensors"  # a loose file
