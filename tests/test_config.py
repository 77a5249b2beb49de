import pytest

from paintscape.config import Config, ConfigError, config_from_yaml_text, config_to_dict, load_config, save_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    path = write(tmp_path, "model:\n  generator: {name: pix2pix, args: {base_channels: 8}}\ntrain:\n  phases:\n    - {batch_size: 2, lr: 0.0002, epochs: 3}\n    - {batch_size: 30, lr: 0.0012, epochs: 1, subset: sel1.txt}\n")
    config = load_config(path, ["train.phases[0].epochs=40", "data.root=data/x", "train.lr_decay_start=0.25", "data.size=[64, 96]"])
    assert config.model.generator.name == "pix2pix" and config.model.generator.args == {"base_channels": 8}
    assert config.train.phases[0].epochs == 40 and config.train.phases[1].subset == "sel1.txt"
    assert config.data.root == "data/x" and config.data.size == (64, 96)
    assert config.train.lr_decay_start == 0.25


def test_frozen():
    config = Config()
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train = None  # type: ignore[misc]


def test_unknown_key_names_key_and_allowed(tmp_path):
    path = write(tmp_path, "train:\n  lrr: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key train\.lrr.*allowed keys here: phases"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown key data.rooot"):
        load_config(None, ["data.rooot=x"])


def test_wrong_type_names_key(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.seed: expected an integer, got 'abc'"):
        load_config(None, ["train.seed=abc"])
    with pytest.raises(ConfigError, match=r"train\.phases\[0\]\.lr: expected a number"):
        load_config(None, ["train.phases[0].lr=fast"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.seed", r"override 'train.seed' must look like key.path=value"),
        ("train.seed=[1,", r"value is not valid YAML \(expected the node content, but found '<stream end>' at line 1, column 4\)"),
        ("train.-x=1", r"cannot read key part '-x'"),
        ("data.size[5]=3", r"index \[5\] is out of range"),
        ("train.phases[3].lr=0.1", r"index \[3\] is out of range"),
        ("data.root.x=1", r"'x' is not inside a mapping"),
        ("data.size[0].a=1", r"'a' is not inside a mapping"),
        ("data.size=[1, 2, 3]", r"data\.size: expected 2 values, got 3"),
        ("data.load_size=abc", r"data\.load_size: expected a list, got 'abc'"),  # an optional field says what it expects
        ("model.discriminator={args: {}}", r"model\.discriminator: missing required key\(s\) name"),
        ("model.generator=patchgan", r"model\.generator: expected a mapping of NetworkConfig fields"),
        ("loss.weights=5", r"loss\.weights: expected a mapping, got 5"),
        ("data.flip=maybe", r"data\.flip: expected true or false, got 'maybe'"),
        ("loss.objective=5", r"loss\.objective: expected a string, got 5"),
        # refused with the config, not at the first step of a run already created
        ("loss.vgg_distance=l2", r"loss\.vgg_distance: must be one of l1, cosine, got 'l2'"),
        ("loss.vgg_normalization=imagent", r"loss\.vgg_normalization: must be one of imagenet, none, got 'imagent'"),
    ],
)
def test_bad_overrides_name_the_key_in_one_line(override, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(None, [override])
    assert "\n" not in str(caught.value)


def test_overrides_replace_list_items():
    assert load_config(None, ["data.size[0]=7"]).data.size[0] == 7
    assert load_config(None, ["model.discriminator=null"]).model.discriminator is None


@pytest.mark.parametrize(
    "content, message",
    [
        (b"train: [1,\n", r"not valid YAML: expected the node content, but found '<stream end>' at line 2, column 1$"),
        (b"- 1\n- 2\n", r"the top level must be a mapping of config keys"),
        (b"\xff\xfe\x00train", r"not a YAML text file \(not UTF-8\)"),
    ],
)
def test_bad_config_files_are_named_in_one_line(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_loss_weights_replaced_whole(tmp_path):
    path = write(tmp_path, "loss:\n  weights: {adv: 1.0, l1: 100.0}\n")
    assert load_config(path).loss.weights == {"adv": 1.0, "l1": 100.0}


def test_saved_config_round_trips(tmp_path):
    config = load_config(None, ["train.seed=7", "model.generator.args.base_channels=16"])
    save_config(config, tmp_path / "config.yaml")
    again = config_from_yaml_text((tmp_path / "config.yaml").read_text())
    assert again == config
    assert config_to_dict(again)["train"]["seed"] == 7
