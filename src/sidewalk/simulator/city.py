"""A city as data: its service areas (GeoJSON), hubs, merchants, the shape of a day's demand
and the pilots' shifts, in a `city.toml` beside its GeoJSON. `docs/cities.md` documents the
format, so that users bring their own city."""

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import shape

from sidewalk.kernel.geo import LatLng

DEFAULT_CITY = Path(__file__).resolve().parents[1] / "data" / "cities" / "west-hollywood"


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lng: float
    address: str = ""

    @property
    def point(self) -> LatLng:
        return LatLng(self.lat, self.lng)


@dataclass(frozen=True)
class Merchant:
    place: Place
    weight: float  # share of the city's orders, relative to the other merchants
    order_value_cents: int  # a typical basket


@dataclass(frozen=True)
class Shift:
    start_min: int  # minutes after local midnight
    end_min: int  # may pass midnight (end_min > 1440)


@dataclass(frozen=True)
class City:
    name: str
    utc_offset_h: float
    service_areas_file: Path
    hubs: list[Place]
    merchants: list[Merchant]
    demand: list[float]  # 24 relative weights, one per local hour
    shifts: list[Shift]

    def demand_at(self, local_hour: float) -> float:
        """Relative demand at a local hour, normalised so that the day's mean is 1."""
        mean = sum(self.demand) / 24
        return self.demand[math.floor(local_hour) % 24] / mean if mean else 0.0

    def polygons(self) -> list[object]:
        document = json.loads(self.service_areas_file.read_text(encoding="utf-8"))
        return [shape(f["geometry"]) for f in document["features"]]


class CityError(ValueError):
    """A city file that cannot be used, with what is wrong in it."""


def load_city(path: Path | None = None) -> City:
    """Read a city from its directory (holding `city.toml`) or from the TOML file itself."""
    path = path or DEFAULT_CITY
    toml_file = path / "city.toml" if path.is_dir() else path
    try:
        data = tomllib.loads(toml_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CityError(f"{toml_file}: {e}") from e
    try:
        return _city(data, toml_file.parent)
    except CityError as e:
        raise CityError(f"{toml_file}: {e}") from e
    except KeyError as e:
        raise CityError(f"{toml_file}: missing key {e}") from e
    except (TypeError, ValueError) as e:
        raise CityError(f"{toml_file}: {e!r}") from e


def _city(data: dict, folder: Path) -> City:  # type: ignore[type-arg]
    areas = folder / data["service_areas"]
    if not areas.is_file():
        raise CityError(f"service areas file {areas} not found")
    demand = [float(x) for x in data["demand"]["hourly"]]
    if len(demand) != 24 or min(demand) < 0 or sum(demand) <= 0:
        raise CityError("demand.hourly needs 24 weights, none negative, not all zero")
    merchants = [
        Merchant(_place(m), float(m.get("weight", 1.0)), int(m.get("order_value_cents", 2500)))
        for m in data["merchants"]
    ]
    hubs = [_place(h) for h in data["hubs"]]
    if not merchants or not hubs:
        raise CityError("a city needs at least one merchant and one hub")
    if min(m.weight for m in merchants) < 0 or sum(m.weight for m in merchants) <= 0:
        raise CityError("merchant weights must not be negative, nor all zero")
    shifts = [
        Shift(_minutes(s["start"]), _end(_minutes(s["start"]), _minutes(s["end"])))
        for s in data.get("pilots", {}).get("shifts", [{"start": "00:00", "end": "24:00"}])
    ]
    return City(
        name=str(data["name"]),
        utc_offset_h=float(data.get("utc_offset_hours", 0)),
        service_areas_file=areas,
        hubs=hubs,
        merchants=merchants,
        demand=demand,
        shifts=shifts,
    )


def _place(d: dict) -> Place:  # type: ignore[type-arg]
    lat, lng = float(d["lat"]), float(d["lng"])
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise CityError(f"{d.get('name')!r}: lat/lng out of range")
    return Place(str(d["name"]), lat, lng, str(d.get("address", "")))


def _minutes(hhmm: str) -> int:
    hours, _, minutes = str(hhmm).partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(minutes) < 60):
        raise CityError(f"shift time {hhmm!r} is not HH:MM")
    if int(hours) * 60 + int(minutes) > 1440:
        raise CityError(f"shift time {hhmm!r} is after 24:00")
    return int(hours) * 60 + int(minutes)


def _end(start: int, end: int) -> int:
    return end if end > start else end + 1440
