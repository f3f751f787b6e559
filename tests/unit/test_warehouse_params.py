"""Named parameters in warehouse SQL: found outside literals and comments, never in a cast,
and written in each driver's own style."""

from sidewalk.warehouse.target import _rewrite, param_names

SQL = "-- the merchant's day: not :here\nSELECT ':not_this', :day, 5 % 2, :day::TEXT -- or :there"


def test_parameters_outside_literals_comments_and_casts() -> None:
    assert param_names(SQL) == ["day"]


def test_each_driver_gets_its_own_style() -> None:
    assert (
        _rewrite(SQL, "duckdb").splitlines()[1]
        == "SELECT ':not_this', $day, 5 % 2, $day::TEXT -- or :there"
    )
    assert _rewrite(SQL, "psycopg").splitlines()[1] == (
        "SELECT ':not_this', %(day)s, 5 %% 2, %(day)s::TEXT -- or :there"
    )
