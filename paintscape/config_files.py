"""The YAML configs that ship inside the package: ``paintscape train spade`` finds ``spade.yaml``.

A config argument is either a path to a YAML file (as before) or the name of a packaged config
(``spade``, ``pix2pix_tiny``, ``report_phases``, ...); ``paintscape configs`` lists them.
"""

from __future__ import annotations

from pathlib import Path

from paintscape.suggest import did_you_mean

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class UnknownConfig(ValueError):
    """Neither a YAML file nor a packaged config's name; the message lists the names. (A ValueError, as
    ``config.ConfigError`` is: ``config.py`` imports this module, so this one does not import it.)"""


def packaged_configs() -> dict[str, Path]:
    """Name -> path of every config that ships with the package, sorted by name."""
    return {path.stem: path for path in sorted(CONFIG_DIR.glob("*.yaml"))}


def config_description(path: Path) -> str:
    """The first comment line of a config file: what it is for."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def resolve_config(name_or_path: str | Path) -> Path:
    """An existing file as given; else a packaged config by name (``spade`` or ``spade.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    configs = packaged_configs()
    name = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    # A bare name (no folder) or the old repository path configs/NAME.yaml both mean the packaged file.
    if (len(path.parts) == 1 or path.parent.name == "configs") and name in configs:
        return configs[name]
    what = f"config file {path} does not exist" if len(path.parts) > 1 or path.suffix else f"no packaged config {name!r}"
    raise UnknownConfig(f"{what}{did_you_mean(name, configs)}; packaged configs: {', '.join(configs)} (paintscape configs lists them)")
