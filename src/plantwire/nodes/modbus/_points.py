"""Point lists of the Modbus nodes: fields shared by modbus-read/-write/-server configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from .points_codec import Point, make_points, parse_points_csv

__all__ = ["PointListFields", "load_points"]


class PointListFields(BaseModel):
    """The point-list properties (mixed into a node config)."""

    points: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Point definitions: objects with name, table (coil / discrete / "
        "holding / input), address (0-based), type (int16, uint16, int32, uint32, int64, "
        "uint64, float32, float64, bool, string), length (string characters), byteOrder "
        "and wordOrder (big / little), scale, offset, unit, deadband, unitId.",
    )
    pointsCsv: str = Field(
        "",
        description="More point definitions as CSV text: name,table,address,type,byteOrder,"
        "wordOrder,scale,offset,unit,deadband[,length,unitId] (a header row may name the "
        "columns in any order).",
    )
    pointsFile: str = Field(
        "",
        description="Path of a CSV file of point definitions (same columns as pointsCsv); "
        "relative paths are taken from the data folder. Read when the node starts.",
    )

    @field_validator("points", mode="before")
    @classmethod
    def _points_list(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("points: not a JSON list of point objects") from None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValueError("points: must be a list of point objects")
        return value

    @field_validator("pointsCsv", "pointsFile", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    def inline_specs(self) -> list[dict[str, Any]]:
        """``points`` plus ``pointsCsv`` rows (validated; errors name point or line)."""
        specs = list(self.points)
        if self.pointsCsv.strip():
            specs += parse_points_csv(self.pointsCsv, "pointsCsv")
        make_points(specs)  # raises with the point's name and field
        return specs


def load_points(fields: PointListFields, data_dir: Path | None) -> list[Point]:
    """Every point of ``fields``: inline ones, then those of ``pointsFile``."""
    specs = fields.inline_specs()
    if fields.pointsFile.strip():
        path = Path(fields.pointsFile.strip()).expanduser()
        if not path.is_absolute() and data_dir is not None:
            path = Path(data_dir) / path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ValueError(f"pointsFile: cannot read {path}: {exc.strerror or exc}") from None
        specs += parse_points_csv(text, f"pointsFile {path.name}")
    return make_points(specs)
