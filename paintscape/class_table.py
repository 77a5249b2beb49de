"""Class tables: which label id means which class and which colour paints it.

The track's 29 landscape classes (``landscape29``, :mod:`paintscape.labels`) are the default. A
dataset may bring its own table as ``ROOT/classes.yaml``::

    classes:                       # ids 0..N-1, each once; colours distinct and not black (ignore)
      - {id: 0, name: sky, colour: [135, 206, 235]}
      - {id: 1, name: grass, colour: "#4caf50"}

or name a built-in one: ``builtin: landscape29``, ``builtin: ade20k150`` (ADE20K SceneParsing's 150
classes, ids 0..149 = objectInfo150 order - 1) or ``builtin: cocostuff182`` (COCO-Stuff's 182, ids
0..181 = labels.txt id - 1). The last two are data files in ``paintscape/class_tables/``. Label maps
store the table's ids with 255 = ignore, so a table holds at most 255 classes. Models trained on the
dataset get its class count, their generator file stores the names and colours, and the Painter, the
paint page, the gallery, ``check-data``, ``evaluate`` and the segmenter read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from paintscape.labels import CLASS_NAMES, IGNORE_COLOR, IGNORE_INDEX, PALETTE
from paintscape.suggest import did_you_mean

CLASSES_FILE = "classes.yaml"
#: The packaged tables (``classes.yaml`` files shipped as package data).
TABLE_DIR = Path(__file__).resolve().parent / "class_tables"


class ClassTableError(ValueError):
    """A classes.yaml that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class ClassTable:
    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    source: str = "landscape29"

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def palette_array(self) -> np.ndarray:
        return np.asarray(self.palette, dtype=np.uint8).reshape(-1, 3)

    def outside_hint(self, values: list[int]) -> str:
        """What to do about label values ``values`` that are not ids of this table (one sentence)."""
        if self.source == "ade20k150" and 150 in values:  # an ADE20K file read as it is
            return ("ADE20K's own files store 1..150 (0 = unlabelled); shift them to the table's 0..149 with "
                    "`paintscape convert-labels SRC DST --from ade20k --to ade20k150`.")
        if self.source == "landscape29":
            return (f"The landscape track uses 29 classes: map ADE20K / COCO-Stuff label maps onto them with `paintscape "
                    f"convert-labels SRC DST --from ade20k|coco-stuff`, or give the dataset a {CLASSES_FILE} "
                    f"(its own classes, or builtin: {' | '.join(BUILTIN_NAMES)}).")
        return f"The class table ({self.source}) has {self.num_classes} classes, ids 0..{self.num_classes - 1}; 255 marks ignored pixels."


LANDSCAPE29 = ClassTable(CLASS_NAMES, tuple(tuple(int(v) for v in c) for c in PALETTE), "landscape29")
#: The tables a classes.yaml can name with ``builtin: NAME``, with their sizes; all but the first are files in TABLE_DIR.
BUILTIN_SIZES = {"landscape29": 29, "ade20k150": 150, "cocostuff182": 182}
BUILTIN_NAMES = tuple(BUILTIN_SIZES)


def _colour(value: object, where: str) -> tuple[int, int, int]:
    if isinstance(value, str) and len(value) == 7 and value.startswith("#"):
        try:
            return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)
        except ValueError:
            pass
    if isinstance(value, list | tuple) and len(value) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    raise ClassTableError(f"{where}: colour must be [R, G, B] with values 0..255 or '#rrggbb', got {value!r}")


def builtin_table(name: str) -> ClassTable:
    """A built-in table by name (:data:`BUILTIN_NAMES`)."""
    if name not in BUILTIN_NAMES:
        raise ClassTableError(f"unknown built-in class table {name!r}{did_you_mean(name, BUILTIN_NAMES)}; built-in: {', '.join(BUILTIN_NAMES)}")
    return LANDSCAPE29 if name == "landscape29" else _packaged_table(name)


@cache
def _packaged_table(name: str) -> ClassTable:
    table = read_class_table(TABLE_DIR / f"{name}.yaml")
    return ClassTable(table.names, table.palette, name)


def table_of(names: tuple[str, ...], palette: tuple[tuple[int, int, int], ...]) -> ClassTable:
    """The table of a model's stored names and colours, named after the built-in one it equals."""
    names, palette = tuple(names), tuple(tuple(int(v) for v in c) for c in palette)
    for name, size in BUILTIN_SIZES.items():
        if len(names) == size:  # only a table of the same size is read: a 10-class model never loads a file
            table = builtin_table(name)
            if (table.names, table.palette) == (names, palette):
                return table
    return ClassTable(names, palette, "the model's class table")


def read_class_table(path: str | Path) -> ClassTable:
    """A ``classes.yaml`` (see the module docstring) as a :class:`ClassTable`."""
    from paintscape.config import load_yaml, yaml_problem

    path = Path(path)
    try:
        data = load_yaml(path.read_text())
    except OSError as exc:
        raise ClassTableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ClassTableError(f"{path}: not a YAML text file (not UTF-8)") from None
    except Exception as exc:  # yaml.YAMLError
        raise ClassTableError(f"{path}: not valid YAML ({yaml_problem(exc)})") from None
    if isinstance(data, dict) and set(data) == {"builtin"}:
        try:
            return builtin_table(str(data["builtin"]))
        except ClassTableError as exc:
            raise ClassTableError(f"{path}: {exc}") from None
    entries = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ClassTableError(
            f"{path}: expected 'classes:' with a list of {{id, name, colour}} entries, or 'builtin: NAME' ({', '.join(BUILTIN_NAMES)})"
        )
    if len(entries) > IGNORE_INDEX:
        raise ClassTableError(f"{path}: {len(entries)} classes; label maps hold at most {IGNORE_INDEX} (id {IGNORE_INDEX} means ignore)")
    by_id: dict[int, tuple[str, tuple[int, int, int]]] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: classes[{i}]"
        if not isinstance(entry, dict) or not {"id", "name"} <= set(entry) or not ({"colour", "color"} & set(entry)):
            raise ClassTableError(f"{where}: each class needs id, name and colour, got {entry!r}")
        class_id, name = entry["id"], entry["name"]
        if not isinstance(class_id, int) or isinstance(class_id, bool) or not 0 <= class_id < len(entries):
            raise ClassTableError(f"{where}: id must be an integer in 0..{len(entries) - 1} (ids are 0..N-1), got {class_id!r}")
        if class_id in by_id:
            raise ClassTableError(f"{where}: id {class_id} is given twice")
        by_id[class_id] = (str(name), _colour(entry.get("colour", entry.get("color")), where))
    palette = [by_id[i][1] for i in range(len(entries))]
    if len(set(palette)) != len(palette):
        raise ClassTableError(f"{path}: two classes share a colour; each needs its own to be told apart in a coloured label map")
    if tuple(IGNORE_COLOR) in palette:
        raise ClassTableError(f"{path}: colour {list(IGNORE_COLOR)} is reserved for ignored pixels")
    return ClassTable(tuple(by_id[i][0] for i in range(len(entries))), tuple(palette), str(path))


def dataset_class_table(root: str | Path) -> ClassTable:
    """``ROOT/classes.yaml`` when the dataset has one, else the landscape classes."""
    path = Path(root) / CLASSES_FILE
    return read_class_table(path) if path.is_file() else LANDSCAPE29


def label_folder_class_table(labels_dir: str | Path) -> ClassTable:
    """The table of a folder of label maps: a ``classes.yaml`` in it or in the dataset around it
    (``DATA/labels`` -> ``DATA/classes.yaml``), else the landscape classes."""
    labels_dir = Path(labels_dir)
    for folder in (labels_dir, labels_dir.parent):
        if (folder / CLASSES_FILE).is_file():
            return read_class_table(folder / CLASSES_FILE)
    return LANDSCAPE29


def table_of_size(num_classes: int) -> ClassTable:
    """A table for a model given a class count other than 29 and no table: the first landscape classes (more need a table)."""
    if num_classes < LANDSCAPE29.num_classes:
        return ClassTable(LANDSCAPE29.names[:num_classes], LANDSCAPE29.palette[:num_classes], f"landscape29[:{num_classes}]")
    raise ClassTableError(
        f"{num_classes} classes need a class table: put a {CLASSES_FILE} in the dataset folder "
        f"(id, name, colour per class, or builtin: {' | '.join(BUILTIN_NAMES)})"
    )
