"""Configs travel with the package: found by name, listed, YAML numbers read as numbers, sizes as WxH."""

import pytest

from paintscape.cli import main
from paintscape.config import ConfigError, load_config
from paintscape.config_files import CONFIG_DIR, config_description, packaged_configs, resolve_config
from paintscape.curation.config import CurationConfig, load_curation_config


def test_the_named_configs_ship_inside_the_package():
    names = set(packaged_configs())
    assert {"spade", "tsit", "pix2pix", "spade_tiny", "tsit_tiny", "pix2pix_tiny", "report_phases", "curate"} <= names
    assert CONFIG_DIR.parent.name == "paintscape"  # inside the package, so a wheel carries them


def test_a_name_a_yaml_name_the_old_path_and_a_file_all_resolve(tmp_path):
    assert resolve_config("spade") == CONFIG_DIR / "spade.yaml"
    assert resolve_config("spade.yaml") == CONFIG_DIR / "spade.yaml"
    assert resolve_config("configs/spade.yaml") == CONFIG_DIR / "spade.yaml"
    own = tmp_path / "spade.yaml"
    own.write_text("train: {seed: 7}\n")
    assert resolve_config(own) == own and load_config(own).train.seed == 7
    assert load_config("pix2pix_tiny").model.generator.name == "pix2pix"
    assert load_curation_config("curate") == CurationConfig()


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"no packaged config 'spad' \(did you mean 'spade'\?\); packaged configs: .*pix2pix"):
        load_config("spad")


def test_paintscape_configs_lists_them_with_their_first_line(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert "spade_tiny" in out and "SPADE at tiny width" in out and "report_phases" in out


def test_every_packaged_config_says_what_it_is_for(tmp_path):
    assert all(config_description(path) for path in packaged_configs().values())  # what `paintscape configs` prints
    (tmp_path / "own.yaml").write_text("\nmodel: {}\n# a comment further down is not a description\n")
    assert config_description(tmp_path / "own.yaml") == ""


def test_inspect_takes_a_name(capsys):
    assert main(["inspect", "pix2pix_tiny"]) == 0
    assert "generator" in capsys.readouterr().out


def test_yaml_exponent_numbers_are_floats(tmp_path):
    # PyYAML follows YAML 1.1, where 2e-4 (no dot) is a string; people write learning rates like that.
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  phases:\n    - {batch_size: 2, lr: 2e-4, steps: 3}\n  ema_half_life_images: 1e3\n")
    config = load_config(path, ["train.betas=[0, 9e-1]"])
    assert config.train.phases[0].lr == pytest.approx(2e-4)
    assert config.train.ema_half_life_images == 1000.0 and config.train.betas == (0.0, 0.9)
    assert load_config(None, ["data.root=1e3x"]).data.root == "1e3x"  # not a number: stays a string


def test_sizes_are_width_x_height_everywhere(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {size: 512x384, load_size: 640×480}\n")
    config = load_config(path)
    assert config.data.size == (384, 512) and config.data.load_size == (480, 640)
    assert load_config(None, ["data.size=96x64"]).data.size == (64, 96)
    assert load_config(None, ["data.size=[64, 96]"]).data.size == (64, 96)  # a list stays [height, width]
    with pytest.raises(ConfigError, match="data.size"):
        load_config(None, ["data.size=96by64"])


def test_unknown_keys_and_list_typos_suggest_the_key():
    with pytest.raises(ConfigError, match=r"unknown key train\.phase \(did you mean 'phases'\?\)"):
        load_config("pix2pix_tiny", ["train.phase[0].steps=5"])
    with pytest.raises(ConfigError, match=r"unknown key train\.phasess \(did you mean 'phases'\?\)"):
        load_config("pix2pix_tiny", ["train.phasess=1"])
    with pytest.raises(ConfigError, match=r"unknown key data\.rooot \(did you mean 'root'\?\)"):
        load_config(None, ["data.rooot=x"])


def test_unknown_families_suggest_the_name():
    import paintscape.models  # noqa: F401  (fills the registry)
    from paintscape.registry import GENERATORS

    with pytest.raises(ValueError, match=r"unknown generator 'spad' \(did you mean 'spade'\?\)"):
        GENERATORS.entry("spad")
    with pytest.raises(ValueError, match=r"takes no argument 'base_channel' \(did you mean 'base_channels'\?\)"):
        GENERATORS.build("pix2pix", base_channel=8)


def test_packaged_configs_write_sizes_as_width_x_height():
    import re

    for name, path in packaged_configs().items():
        sizes = re.findall(r"^\s*(\w*size): (.+?)(?:\s+#.*)?$", path.read_text(), flags=re.M)
        sizes = [(key, value) for key, value in sizes if key != "batch_size"]
        assert sizes, name
        for key, value in sizes:
            assert re.fullmatch(r"\d+x\d+", value), f"{name}: {key}: {value} is not WIDTHxHEIGHT"
