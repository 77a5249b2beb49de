"""SegFormer segmenter: sizes, a few training steps, save/load, errors."""

from __future__ import annotations

import json

import pytest
import torch

from paintscape.evaluate import segmenter as seg
from paintscape.labels import IGNORE_INDEX, NUM_CLASSES


class RandomScenes(torch.utils.data.Dataset):
    """Images whose colour encodes the label (so there is something to learn), 255 holes included."""

    def __init__(self, count: int = 4, size: tuple[int, int] = (32, 48)) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = []
        for i in range(count):
            label = torch.randint(0, 3, (size[0] // 8, size[1] // 8), generator=g)
            label = label.repeat_interleave(8, 0).repeat_interleave(8, 1)  # (H, W) blocks
            colours = torch.tensor([[-1.0, 0.0, 1.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
            image = colours[label].permute(2, 0, 1) + 0.1 * torch.randn(3, *size, generator=g)
            label[:2, :2] = IGNORE_INDEX
            self.items.append({"image": image.clamp(-1, 1), "label": label, "name": f"scene{i}"})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


@pytest.mark.parametrize("size", ["b0", "b1", "b2", "b3", "b4", "b5"])
def test_paper_sizes_configs(size):
    config = seg.segformer_config(size)
    assert config.num_labels == NUM_CLASSES
    assert config.semantic_loss_ignore_index == IGNORE_INDEX
    assert config.id2label[1] == "sky"
    expected_depths = {"b0": [2, 2, 2, 2], "b2": [3, 4, 6, 3], "b5": [3, 6, 40, 3]}
    if size in expected_depths:
        assert list(config.depths) == expected_depths[size]


def test_unknown_size_lists_valid_ones():
    with pytest.raises(ValueError, match="b0, b1"):
        seg.segformer_config("b9")


def test_segment_shape_and_range():
    torch.manual_seed(0)
    model = seg.build_segmenter("tiny")
    out = seg.segment(model, torch.rand(2, 3, 30, 44) * 2 - 1)
    assert out.shape == (2, 30, 44) and out.dtype == torch.long
    assert int(out.min()) >= 0 and int(out.max()) < NUM_CLASSES


def test_training_lowers_loss_and_round_trips(tmp_path):
    data = RandomScenes()
    batch = seg._collate([data[i] for i in range(len(data))])
    torch.manual_seed(0)
    before = seg.build_segmenter("tiny").eval()  # same seed as train_segmenter's initial weights
    with torch.no_grad():
        loss_before = seg.segmentation_loss(seg.logits_at(before, batch["image"]), batch["label"]).item()
    seen = []
    out = tmp_path / "seg"
    model = seg.train_segmenter(
        data, out, size="tiny", steps=30, batch_size=2, lr=2e-3, seed=0,
        progress=lambda step, total, loss: seen.append((step, total)),
    )  # fmt: skip
    with torch.no_grad():
        loss_after = seg.segmentation_loss(seg.logits_at(model.eval(), batch["image"]), batch["label"]).item()
    assert loss_after < 0.7 * loss_before
    assert seen[-1] == (30, 30)

    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    facts = json.loads((out / seg.TRAINING_FACTS_FILE).read_text())
    assert facts["size"] == "tiny" and facts["steps"] == 30
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left

    loaded = seg.load_segmenter(out)
    torch.testing.assert_close(seg.segment(loaded, batch["image"]), seg.segment(model, batch["image"]))
    assert loaded.config.id2label[0] == "mountain"

    # training again into the same folder replaces it atomically
    seg.train_segmenter(data, out, size="tiny", steps=1, batch_size=4)
    assert json.loads((out / seg.TRAINING_FACTS_FILE).read_text())["steps"] == 1


def test_epochs_mode(tmp_path):
    seg.train_segmenter(RandomScenes(count=3), tmp_path / "s", size="tiny", epochs=2, batch_size=2)
    assert json.loads((tmp_path / "s" / seg.TRAINING_FACTS_FILE).read_text())["steps"] == 4


def test_missing_segmenter_dir_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-segmenter"):
        seg.load_segmenter(tmp_path / "absent")


def test_missing_pretrained_backbone_names_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="nvidia/mit-b0") as err:
        seg.build_segmenter("b0", pretrained_backbone=tmp_path / "mit-b0")
    assert "https://huggingface.co/nvidia/mit-b0" in str(err.value)


def test_pretrained_backbone_loads_encoder_from_local_folder(tmp_path):
    import transformers

    torch.manual_seed(1)
    # nvidia/mit-b* are ImageNet classifiers (SegformerForImageClassification, 1000 labels)
    config = seg.segformer_config("tiny", num_labels=10)
    source = transformers.SegformerForImageClassification(config)
    source.save_pretrained(tmp_path / "mit")
    model = seg.build_segmenter("tiny", pretrained_backbone=tmp_path / "mit")
    assert model.config.num_labels == NUM_CLASSES
    for key, value in source.segformer.state_dict().items():
        torch.testing.assert_close(model.segformer.state_dict()[key], value)
    with pytest.raises(ValueError, match="not size 'b0'"):
        seg.build_segmenter("b0", pretrained_backbone=tmp_path / "mit")
