"""The simulator's city files: the packaged default city, and what a broken city file says."""

import shutil
from pathlib import Path

import pytest
from shapely import Point

from sidewalk.simulator.city import DEFAULT_CITY, City, CityError, load_city

DAY_MIN = 24 * 60


@pytest.fixture(scope="module")
def city() -> City:
    return load_city()


def test_the_default_city_loads(city: City) -> None:
    assert city.name == "West Hollywood"
    assert city.utc_offset_h == -7
    assert len(city.merchants) == 20
    assert len(city.hubs) >= 1
    assert len({m.place.name for m in city.merchants}) == 20
    assert all(0.5 <= m.weight <= 3 for m in city.merchants)
    assert all(1200 <= m.order_value_cents <= 6000 for m in city.merchants)


def test_every_hub_and_merchant_is_inside_a_service_area(city: City) -> None:
    polygons = city.polygons()
    assert polygons
    places = city.hubs + [m.place for m in city.merchants]
    outside = [
        p.name for p in places if not any(poly.contains(Point(p.lng, p.lat)) for poly in polygons)
    ]
    assert outside == []


def test_the_demand_curve_has_a_mean_of_one(city: City) -> None:
    values = [city.demand_at(h) for h in range(24)]
    assert sum(values) / 24 == pytest.approx(1.0)
    # Quiet at night, busiest at dinner.
    assert max(values[0:6]) < 0.3
    assert max(values) == max(values[18:21])


def test_demand_at_takes_the_hour_a_moment_falls_in(city: City) -> None:
    assert city.demand_at(12.99) == city.demand_at(12)
    assert city.demand_at(24 + 3.5) == city.demand_at(3)
    # Half past 17, one day earlier: hour 17, not 18.
    assert city.demand_at(-6.5) == city.demand_at(17)


def test_the_shifts_cover_every_minute_of_the_day(city: City) -> None:
    def on_shift(minute: int) -> bool:
        return any(
            s.start_min <= m < s.end_min for s in city.shifts for m in (minute, minute + DAY_MIN)
        )

    assert all(s.start_min < s.end_min <= s.start_min + DAY_MIN for s in city.shifts)
    assert [m for m in range(DAY_MIN) if not on_shift(m)] == []


def test_a_city_can_be_read_from_its_toml_file(tmp_path: Path) -> None:
    folder = _copy_default_city(tmp_path)
    city = load_city(folder / "city.toml")
    assert city.service_areas_file == folder / "service_areas.geojson"
    assert len(city.merchants) == 20


def test_without_shifts_the_pilots_work_all_day(tmp_path: Path) -> None:
    toml = _copy_default_city(tmp_path) / "city.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text[: text.index("[pilots]")], encoding="utf-8")
    (shift,) = load_city(toml).shifts
    assert (shift.start_min, shift.end_min) == (0, DAY_MIN)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            'service_areas = "service_areas.geojson"',
            'service_areas = "nowhere.geojson"',
            "nowhere.geojson not found",
            id="missing service areas file",
        ),
        pytest.param(
            "0.15, 0.10, 0.07,", "0.15, 0.07,", "demand.hourly needs 24 weights", id="23 hours"
        ),
        pytest.param(
            "0.15, 0.10, 0.07,", "0.15, -0.10, 0.07,", "none negative", id="negative demand"
        ),
        pytest.param(
            "weight = 2.2\n", "weight = -2.2\n", "merchant weights", id="negative merchant weight"
        ),
        pytest.param(
            "lat = 34.0795", "lat = 134.0795", "'West hub': lat/lng out of range", id="lat"
        ),
        pytest.param('name = "West Hollywood"\n', "", "missing key 'name'", id="no name"),
        pytest.param("[demand]", "[demand\n", "city.toml: Expected ']'", id="broken toml"),
        pytest.param(
            '{start = "07:00"', '{start = "7 am"', "shift time '7 am' is not HH:MM", id="shift"
        ),
        pytest.param('end = "15:30"', 'end = "25:30"', "is after 24:00", id="shift after 24h"),
    ],
)
def test_a_broken_city_file_says_what_is_wrong(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    toml = _copy_default_city(tmp_path) / "city.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CityError, match=r"city\.toml: ") as raised:
        load_city(toml.parent)
    assert message in str(raised.value)
    assert "CityError(" not in str(raised.value)


@pytest.mark.parametrize(
    ("top_level", "message"),
    [
        pytest.param("", "missing key 'merchants'", id="no merchants key"),
        pytest.param("merchants = []\n", "at least one merchant and one hub", id="empty list"),
    ],
)
def test_a_city_without_merchants_is_refused(tmp_path: Path, top_level: str, message: str) -> None:
    toml = _copy_default_city(tmp_path) / "city.toml"
    text = toml.read_text(encoding="utf-8")
    start, end = text.index("[[merchants]]"), text.index("[demand]")
    text = text[:start] + text[end:]
    hubs = text.index("[[hubs]]")
    toml.write_text(text[:hubs] + top_level + text[hubs:], encoding="utf-8")
    with pytest.raises(CityError, match=message):
        load_city(toml.parent)


def test_a_missing_city_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CityError, match="nothing-here"):
        load_city(tmp_path / "nothing-here")


def _copy_default_city(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_CITY, tmp_path / "city"))
