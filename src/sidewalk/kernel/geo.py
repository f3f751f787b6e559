"""Geography: distances on the Earth and the service areas (GeoJSON polygons) robots serve."""

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely import Polygon, box, intersects_xy, prepare
from shapely.geometry import mapping, shape

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class LatLng:
    lat: float
    lng: float


def haversine_m(a: LatLng, b: LatLng) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lng - a.lng)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class ServiceArea:
    id: str
    name: str
    polygon: Polygon

    def contains(self, where: LatLng) -> bool:
        """Inside or on the border; no Point object is made, as this runs on every quote."""
        return bool(intersects_xy(self.polygon, where.lng, where.lat))

    def to_feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": self.id,
            "properties": {"id": self.id, "name": self.name},
            "geometry": mapping(self.polygon),
        }


# The side of the cells `ServiceAreas.containing` remembers, in degrees (about 55 m of latitude).
CELL_DEG = 0.0005
_BORDER = "border"  # a cell that an area's border crosses: its points are looked at one by one
_MAX_CELLS = 200_000  # cells remembered at most (a metropolitan fleet's footprint is far less)


class ServiceAreas:
    """The areas robots serve, read from a GeoJSON FeatureCollection whose features carry
    `properties.id` and `properties.name` and a Polygon or MultiPolygon geometry.

    Which area holds a point is asked for every robot reading, thousands of times a second:
    the answer is remembered per small cell of the map. A cell wholly inside an area (or
    wholly outside all of them) answers for every point in it; only the points of a cell that
    a border crosses are tested against the polygons, so every answer stays exact."""

    def __init__(self, areas: list[ServiceArea]) -> None:
        self._areas = areas
        for area in areas:
            prepare(area.polygon)
        self._cells: dict[tuple[int, int], ServiceArea | str | None] = {}

    def __iter__(self) -> Iterator[ServiceArea]:
        return iter(self._areas)

    def __len__(self) -> int:
        return len(self._areas)

    def containing(self, where: LatLng) -> ServiceArea | None:
        cell = (math.floor(where.lat / CELL_DEG), math.floor(where.lng / CELL_DEG))
        known = self._cells.get(cell, _BORDER)
        if known is _BORDER and cell not in self._cells:
            if len(self._cells) >= _MAX_CELLS:
                self._cells.clear()
            known = self._cells[cell] = self._classify(cell)
        if isinstance(known, str):
            return next((a for a in self._areas if a.contains(where)), None)
        return known

    def _classify(self, cell: tuple[int, int]) -> ServiceArea | str | None:
        lat, lng = cell[0] * CELL_DEG, cell[1] * CELL_DEG
        square = box(lng, lat, lng + CELL_DEG, lat + CELL_DEG)
        touched = [a for a in self._areas if a.polygon.intersects(square)]
        if not touched:
            return None
        if len(touched) == 1 and touched[0].polygon.contains(square):
            return touched[0]
        return _BORDER

    def to_geojson(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [a.to_feature() for a in self._areas]}

    @classmethod
    def from_geojson(cls, document: dict[str, Any]) -> "ServiceAreas":
        areas = []
        for i, feature in enumerate(document.get("features", [])):
            props = feature.get("properties") or {}
            geometry = shape(feature["geometry"])
            if geometry.geom_type not in {"Polygon", "MultiPolygon"} or not geometry.is_valid:
                raise ValueError(f"feature {i}: the geometry must be a valid (Multi)Polygon")
            area_id = str(props.get("id") or feature.get("id") or f"area-{i + 1}")
            areas.append(ServiceArea(area_id, str(props.get("name", area_id)), geometry))
        return cls(areas)

    @classmethod
    def from_file(cls, path: Path) -> "ServiceAreas":
        return cls.from_geojson(json.loads(path.read_text(encoding="utf-8")))


DEFAULT_SERVICE_AREAS_FILE = (
    Path(__file__).resolve().parent.parent / "data" / "service_areas.geojson"
)
