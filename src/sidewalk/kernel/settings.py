"""One settings object, read from `SIDEWALK_*` environment variables and, optionally, a TOML
file named by `SIDEWALK_SETTINGS_FILE` (the environment wins over the file)."""

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_var_dir() -> Path:
    """`var/` of the source checkout when run from one, else `~/.local/share/sidewalk`, so that
    commands find the same database from whatever directory they are run in."""
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "sidewalk").is_dir():
        return checkout / "var"
    return Path.home() / ".local" / "share" / "sidewalk"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIDEWALK_", extra="ignore")

    var_dir: Path = Field(default_factory=default_var_dir, description="Where local files live.")
    deliveries_database_url: str = Field(
        "", description="SQLAlchemy URL of the deliveries database; default a SQLite file in var/."
    )
    operations_database_url: str = Field(
        "", description="SQLAlchemy URL of the operations database; default a SQLite file in var/."
    )
    bus_url: str = Field(
        "memory://",
        description="The event bus: memory:// (one process) or nats://host:port (JetStream).",
    )
    bus_stream: str = Field("SIDEWALK_EVENTS", description="The JetStream stream of events.")
    bus_subject_prefix: str = Field("sidewalk", description="First token of event subjects.")
    bus_ack_wait_s: float = Field(
        30,
        gt=0,
        description="How long JetStream waits for a consumer to acknowledge an event before "
        "delivering it again (to a consumer that died holding it); taken when a consumer is "
        "first created.",
    )
    service_areas_file: Path | None = Field(
        None, description="GeoJSON FeatureCollection of service areas; default the demo city."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Where merchants and customers reach the service."
    )

    # Quotes and the estimate of times until the fleet-aware estimate replaces it.
    quote_lifetime_s: int = Field(
        300, gt=0, description="Default life of a quote (merchants may override)."
    )
    robot_speed_mps: float = Field(1.6, gt=0, description="Average sidewalk robot speed.")
    robot_pickup_lead_s: int = Field(
        600, ge=0, description="Typical time for a robot to reach a pickup."
    )
    robot_pickup_dwell_s: float = Field(
        90, ge=0, description="Typical time a robot waits at the pickup to be loaded."
    )
    robot_dropoff_dwell_s: float = Field(
        120, ge=0, description="Typical time a robot waits at the dropoff for its customer."
    )
    courier_speed_mps: float = Field(4.5, gt=0, description="Average courier speed (bicycle).")
    courier_pickup_lead_s: int = Field(
        900, ge=0, description="Typical time for a courier to reach a pickup."
    )
    courier_max_distance_m: int = Field(15_000, gt=0, description="Longest trip a courier takes.")
    eta_promise_percentile: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="Share of deliveries that meet the times their quote promised: promises "
        "add to the fleet model's estimate the margin this share of recent deliveries needed.",
    )
    eta_calibration_legs: int = Field(
        300, gt=0, description="Recent deliveries of each provider that calibrate the margin."
    )
    eta_calibration_min_legs: int = Field(
        30, gt=0, description="Fewer recent deliveries than this: the prior margin is used."
    )
    eta_prior_margin_s: int = Field(
        0,
        ge=0,
        description="The margin promises add until enough deliveries are known (by default "
        "none: the fleet model's estimate as it is).",
    )
    webhook_location_interval_s: float = Field(
        30,
        gt=0,
        description="At most one `delivery.courier_location` webhook per delivery this often.",
    )
    window_check_interval_s: float = Field(
        15,
        gt=0,
        description="How often deliveries whose dropoff window ended before pickup are failed "
        "(`dropoff_window_missed`).",
    )
    detour_factor: float = Field(1.3, ge=1.0, description="Walking way ÷ straight line.")

    # The courier network that carries what robots cannot, and its simulated stand-in.
    courier_provider: str = Field(
        "simulated",
        description="The courier network adapter: `simulated` (built in), `doordash` (DoorDash "
        "Drive v2) or `uber` (Uber Direct).",
    )
    courier_contact_name: str = Field(
        "Sidewalk", description="Real networks: the sender's name couriers see at the pickup."
    )
    courier_contact_phone: str | None = Field(
        None,
        pattern=r"^\+[0-9]{6,15}$",
        description="Real networks: the E.164 phone couriers call about a pickup, and the "
        "customer's when the delivery has none.",
    )
    courier_http_timeout_s: float = Field(
        10, gt=0, description="Real networks: longest wait for one call to their API."
    )
    doordash_base_url: str = Field("https://openapi.doordash.com", description="DoorDash Drive.")
    doordash_developer_id: str | None = Field(None, description="DoorDash Drive: developer id.")
    doordash_key_id: str | None = Field(None, description="DoorDash Drive: the access key's id.")
    doordash_signing_secret: SecretStr | None = Field(
        None, description="DoorDash Drive: the access key's signing secret (base64url)."
    )
    doordash_webhook_authorization: SecretStr | None = Field(
        None,
        description="DoorDash Drive: the exact `Authorization` header its webhooks are set to "
        "send (e.g. `Bearer …`); webhooks without it are refused.",
    )
    uber_base_url: str = Field("https://api.uber.com", description="Uber Direct's API.")
    uber_token_url: str = Field(
        "https://login.uber.com/oauth/v2/token", description="Uber Direct: the OAuth token URL."
    )
    uber_customer_id: str | None = Field(None, description="Uber Direct: the customer id.")
    uber_client_id: str | None = Field(None, description="Uber Direct: the OAuth client id.")
    uber_client_secret: SecretStr | None = Field(
        None, description="Uber Direct: the OAuth client secret."
    )
    uber_webhook_signing_key: SecretStr | None = Field(
        None, description="Uber Direct: the key its webhooks are signed with (x-uber-signature)."
    )
    courier_accept_delay_s: float = Field(
        120, ge=0, description="Simulated couriers: typical seconds until a courier accepts a job."
    )
    courier_failure_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Simulated couriers: probability a job fails (no courier accepts it, or "
        "the courier gives up before pickup).",
    )
    courier_undeliverable_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Simulated couriers: probability nobody takes the goods at the door (the "
        "delivery's undeliverable action follows).",
    )
    courier_sim_seed: int = Field(
        0, description="Simulated couriers: seed of each job's draws (with the job's own id)."
    )
    courier_pickup_dwell_s: float = Field(
        120, ge=0, description="Simulated couriers: time at the pickup to take the order."
    )
    courier_dropoff_dwell_s: float = Field(
        60, ge=0, description="Simulated couriers: time at the dropoff to hand it over."
    )
    courier_position_every_s: float = Field(
        30, gt=0, description="Simulated couriers: how often a courier on the way tells where."
    )
    courier_sim_tick_s: float = Field(
        1.0, gt=0, description="Simulated couriers: how often their jobs are moved along."
    )
    couriers_in_server: bool = Field(
        True,
        description="Run the courier side (jobs asked of the network, its updates, the "
        "simulated network) inside `sidewalk serve deliveries` when it runs the events.",
    )

    # Defaults of a new merchant's configuration.
    default_currency: str = "USD"
    default_base_fee_cents: int = Field(299, ge=0)
    default_fee_per_km_cents: int = Field(100, ge=0)
    default_courier_base_fee_cents: int = Field(599, ge=0)
    default_courier_fee_per_km_cents: int = Field(150, ge=0)
    default_max_robot_distance_m: int = Field(3_000, gt=0)
    default_courier_fallback: bool = True
    default_max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per delivery, robots' and couriers' together."
    )
    robot_retry_grace_s: float = Field(
        600,
        ge=0,
        description="A robot that fails before pickup is followed by another robot if one can "
        "hand over by the end of the dropoff window, or with no window within this long of the "
        "time promised at the quote; otherwise by a courier.",
    )

    # Operations: robots, dispatch and pilots.
    robot_battery_low_pct: float = Field(
        25, ge=0, le=100, description="Under this an idle robot is sent to charge."
    )
    robot_battery_reserve_pct: float = Field(
        10, ge=0, le=100, description="What a robot must still have on arrival back at a hub."
    )
    robot_drain_pct_per_km: float = Field(
        4.0, ge=0, description="Battery a robot uses per km (a new robot's default)."
    )
    robot_charged_pct: float = Field(
        95, ge=0, le=100, description="A charging robot this full is idle again."
    )
    robot_offline_after_s: int = Field(
        120, gt=0, description="A robot silent this long is taken as offline."
    )
    events_in_server: bool = Field(
        True,
        description="With a shared bus, `serve` relays and handles events itself; turn off "
        "when `sidewalk worker events` does it.",
    )
    dispatch_in_server: bool = Field(
        True, description="Run the dispatcher inside `sidewalk serve operations`."
    )
    dispatch_interval_s: float = Field(2.0, gt=0, description="Time between dispatch rounds.")
    dispatch_max_pickup_s: int = Field(
        1800, gt=0, description="Farthest a robot is sent to a pickup, in travel time."
    )
    task_assign_limit_s: int = Field(
        600, gt=0, description="A task with no robot this long fails (no_robot_available)."
    )
    robot_position_event_s: float = Field(
        10, gt=0, description="A robot on a delivery tells its position this often at most."
    )
    fleet_snapshot_interval_s: float = Field(
        10, gt=0, description="How often operations tells the fleet's state, for quote ETAs."
    )
    fleet_snapshot_max_age_s: float = Field(
        60, gt=0, description="An older fleet snapshot is not used: ETAs fall back to distance."
    )
    pilot_capacity: int = Field(4, gt=0, description="Robots one pilot supervises at once.")
    pilot_wait_limit_s: int = Field(
        300, gt=0, description="A started task with no pilot this long fails (no_pilot_available)."
    )

    demo_speed: float = Field(
        30, ge=1, le=300, description="How much faster than real time the demo's clock runs."
    )

    # The ops dashboard and the customer's tracking page.
    alert_task_wait_s: float = Field(
        300, gt=0, description="A task no robot has taken this long raises an alert."
    )
    dashboard_refresh_s: float = Field(
        1.0, gt=0, le=60, description="How often the dashboard's live board is sent."
    )
    tracking_refresh_s: float = Field(
        2.0, gt=0, le=60, description="How often a tracking page's stream looks for changes."
    )
    tracking_link_ttl_s: float = Field(
        86_400, gt=0, description="How long a tracking link works after its delivery ended."
    )
    map_tile_url: str | None = Field(
        None,
        pattern=r"^https?://\S*\{z\}\S*\{x\}\S*\{y\}\S*$",
        description="Map tiles under the dashboard and tracking maps (…/{z}/{x}/{y}.png); "
        "by default the maps draw the service areas alone and need no tile server.",
    )

    idempotency_ttl_hours: int = Field(
        24, ge=24, description="How long Idempotency-Key answers are kept."
    )
    max_body_bytes: int = Field(1_048_576, gt=0, description="Largest request body accepted.")
    api_key_cache_s: float = Field(30, ge=0, description="How long a key's owner is remembered.")
    log_format: Literal["json", "text"] = Field(
        "json", description="How the servers log: a JSON object a line, or text for people."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The least severe log lines the servers write."
    )
    webhooks_allow_private_targets: bool = Field(
        False,
        description="Send webhooks to private, loopback and link-local addresses too "
        "(off: such endpoints are refused, and names resolving to them are not sent to).",
    )
    rate_limit_key_rps: float = Field(
        100, ge=0, description="Calls a second one merchant API key may make, per process (0: any)."
    )
    rate_limit_key_burst: int = Field(200, gt=0, description="Calls one API key may make at once.")
    rate_limit_operator_rps: float = Field(
        20, ge=0, description="Calls a second one operator token may make, per process (0: any)."
    )
    rate_limit_operator_burst: int = Field(
        60, gt=0, description="Calls one operator token may make at once."
    )
    db_pool_size: int = Field(20, gt=0, description="Database connections kept open per process.")
    telemetry_flush_interval_s: float = Field(
        0.5,
        gt=0,
        description="How often robots' positions and batteries are written to the database, in "
        "one transaction for the whole fleet; a killed process loses at most this long of "
        "readings, never a state change.",
    )
    robot_view_max_age_s: float = Field(
        2.0,
        gt=0,
        description="A reading that reports a state (fault, charging, …) is checked against the "
        "robot's state as the database had it at most this long ago (others are checked against "
        "the view each flush reads back).",
    )
    audit_flush_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often the audit log of API requests is written; a crash loses at most "
        "this long of it.",
    )

    # Signed webhooks to merchants (Standard Webhooks).
    webhooks_in_server: bool = Field(
        True, description="Send webhooks from inside `sidewalk serve deliveries` (and `serve all`)."
    )
    webhook_endpoints_per_merchant: int = Field(
        20, gt=0, description="Most webhook endpoints one merchant may have."
    )
    webhook_retry_schedule_s: list[PositiveFloat] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0],
        min_length=1,
        description="Waits before each retry of a webhook; the last one repeats.",
    )
    webhook_retry_jitter: float = Field(
        0.1, ge=0, lt=1, description="Each wait is stretched or shrunk by up to this fraction."
    )
    webhook_give_up_after_s: float = Field(
        86_400, gt=0, description="A webhook not accepted this long after its first try fails."
    )
    webhook_timeout_s: float = Field(10, gt=0, description="Longest wait for a receiver's answer.")
    webhook_lease_s: float | None = Field(
        None,
        gt=0,
        description="How long a sender holds a webhook it is sending: one that dies mid-send "
        "leaves it to be sent again after this. Default twice webhook_timeout_s, plus 30 s.",
    )
    webhook_max_in_flight: int = Field(16, gt=0, description="Webhooks sent at once per sender.")
    webhook_poll_interval_s: float = Field(
        1.0, gt=0, description="How often an idle sender looks for webhooks that are due."
    )

    # The analytics warehouse.
    warehouse_url: str = Field(
        "",
        description="duckdb:///FILE or a PostgreSQL URL; default a DuckDB file in var/.",
    )
    warehouse_sync_interval_s: float = Field(
        300, ge=0, description="How often `serve` and `demo` mirror into the warehouse; 0: never."
    )
    warehouse_sync_overlap_s: float = Field(
        300,
        ge=0,
        description="How far before the last sync's newest change each sync reads again, for "
        "rows whose transactions committed late.",
    )
    warehouse_batch_rows: int = Field(
        200_000, gt=0, description="Rows per batch a sync reads, loads and commits at once."
    )

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> "Settings":
        if self.webhook_lease_s is not None and self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError("webhook_lease_s must be longer than webhook_timeout_s")
        return self

    @property
    def deliveries_url(self) -> str:
        return self.deliveries_database_url or f"sqlite:///{self.var_dir / 'deliveries.db'}"

    @property
    def warehouse(self) -> str:
        return self.warehouse_url or f"duckdb:///{self.var_dir / 'warehouse.duckdb'}"

    @property
    def bus_is_shared(self) -> bool:
        """Whether the bus reaches other processes (NATS), not only this one (memory)."""
        return not self.bus_url.startswith("memory:")

    @property
    def operations_url(self) -> str:
        return self.operations_database_url or f"sqlite:///{self.var_dir / 'operations.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("SIDEWALK_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(settings_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
