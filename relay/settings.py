"""Configuration: one frozen ``Settings`` built once, from defaults, TOML and environment.

Precedence, highest first: ``RELAY_*`` environment variables, ``RELAY_*_FILE`` secret
files (secrets only), the TOML file, the defaults below. ``load_settings`` passes the
file and the secrets as keyword arguments, so ``Settings(...)`` keywords rank with
them, below the environment. A ``RELAY_*`` variable that names no setting is ignored
by pydantic; ``unknown_variables`` names it. This module is the only place that reads
``os.environ``; everything else receives a ``Settings``.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import ssl
import string
import tomllib
from collections.abc import Iterator, Mapping
from email.headerregistry import Address
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from relay.errors import ConfigError

DEFAULT_CONFIG = Path("config/relay.toml")
ENV_PREFIX = "RELAY_"
# Only these may come from ``RELAY_<PATH>_FILE`` (Docker secrets).
SECRET_PATHS = {("smtp", "password"), ("security", "signing_key"), ("inbox", "key")}
# RELAY_ variables that are not settings: read by the scripts and the test suite.
OTHER_VARIABLES = {"RELAY_CONFIG", "RELAY_EXTRAS", "RELAY_REQUIRE_BROWSER"}
MIN_SIGNING_KEY = 32  # characters: an HMAC-SHA256 key shorter than this is guessable
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_address(value: str) -> str:
    """Return the normalised address or raise ValueError (syntax only, no DNS).

    Configured addresses may use internal or special-use domains
    (``frontdesk@clinic.lan``, ``no-reply@localhost``), which email-validator refuses
    for visitors' addresses; for these the stdlib parser's strict syntax check is kept."""
    try:
        return validate_email(
            value, check_deliverability=False, globally_deliverable=False
        ).normalized
    except EmailNotValidError as exc:
        if "special-use" not in str(exc):
            raise ValueError(f"not a valid email address: {value!r} ({exc})") from None
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError):
        raise ValueError(f"not a valid email address: {value!r}") from None
    if not address.username or not address.domain or any(c.isspace() for c in value):
        raise ValueError(f"not a valid email address: {value!r}")
    return address.addr_spec


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # Peers whose X-Forwarded-For is believed (the reverse proxy), as IPs or CIDRs.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            if entry == "*":  # uvicorn's "believe every peer", for a private network only
                out.append(entry)
                continue
            try:
                entry = entry.strip()
                if "/" in entry:
                    out.append(str(ipaddress.ip_network(entry, strict=False)))
                else:
                    out.append(str(ipaddress.ip_address(entry)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network such as 10.0.0.1 or 10.0.0.0/8"
                ) from None
        return out


class StorageSettings(_Section):
    data_dir: Path = Path("./data")
    # How long a write waits for a lock before the intake answers 503.
    busy_timeout: float = Field(5.0, gt=0)
    # Below this much free space the intake answers 503, keeping the rest for delivery
    # to mark messages sent and purge them (Postfix's queue_minfree). 0: no reserve.
    min_free_bytes: int = Field(64 * 1024 * 1024, ge=0)

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def maildir(self) -> Path:
        return self.data_dir / "mail"


class SmtpSettings(_Section):
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    ca_file: str = ""
    # security = "none" with a username sends the password in clear: refused unless the
    # server is on this machine or this is set.
    allow_plaintext_auth: bool = False
    from_address: str = "Website contact form <no-reply@localhost>"
    # Seconds per SMTP command. RFC 5321 asks for 10 minutes after the final dot;
    # a shorter wait only risks a duplicate, which the stable Message-ID makes visible.
    timeout: float = Field(120.0, gt=0)

    @field_validator("from_address")
    @classmethod
    def _from_address(cls, value: str) -> str:
        from email.utils import parseaddr

        if any(ch in value for ch in "\r\n\0"):
            raise ValueError("from_address must be a single line")
        display, addr = parseaddr(value)
        if not addr:
            raise ValueError(f"not an address: {value!r}")
        local, _, domain = check_address(addr).rpartition("@")
        return str(Address(display_name=display, username=local, domain=domain))

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str) -> str:
        if not value:
            return value
        if not Path(value).is_file():
            raise ValueError(f"no such file: {value} (the CA bundle for the mail server)")
        try:
            ssl.create_default_context().load_verify_locations(cafile=value)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"{value} is not a readable PEM certificate bundle ({exc})") from None
        return value

    @model_validator(mode="after")
    def _no_clear_text_password(self) -> SmtpSettings:
        if (
            self.security == "none"
            and self.username
            and not self.allow_plaintext_auth
            and not _loopback(self.host)
        ):
            raise ValueError(
                'security = "none" with a username would send the password in clear text '
                f"to {self.host}: use starttls or tls, or set allow_plaintext_auth = true "
                "if the network to that server is trusted"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.host)


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DeliverySettings(_Section):
    retry_initial: float = Field(60, gt=0)
    retry_max: float = Field(3600, gt=0)
    give_up_after: float = Field(432000, gt=0)
    lease_seconds: float = Field(300, gt=0)  # a claim not finished by then comes back
    poll_interval: float = Field(5, gt=0)  # idle worker wake-up, besides enqueue signals
    hold_interval: float = Field(60, gt=0)  # wait after a configuration fault (TLS, AUTH)


class LimitsSettings(_Section):
    max_body_bytes: int = Field(65536, ge=1024)
    rate: str = "10/minute"
    # Where rate-limit counters live: memory:// (one process) or redis://host:6379
    # (shared by replicas; needs the "redis" extra).
    storage: str = "memory://"
    max_fields: int = Field(30, ge=1)
    max_line_chars: int = Field(300, ge=1)  # single-line fields
    max_text_chars: int = Field(10000, ge=1)  # multi-line fields such as "message"
    # Posts that failed the fill-time token or proof of work are kept this long as
    # "suspected" (never delivered unless released), then purged.
    suspected_days: float = Field(14, gt=0)

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            item = parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 10/minute or 100/hour") from None
        if item.amount < 1:
            raise ValueError(f"{value!r} would refuse every post: use at least 1/minute")
        return value


class ClinicSettings(_Section):
    name: str = "Our clinic"
    phone: str = ""
    # Shown when a message is refused for medical details.
    secure_contact: str = (
        "Please call us, or bring these details to your appointment, so that we can "
        "keep them private."
    )
    accent_color: str = "#1f6f8b"

    @field_validator("accent_color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", value):
            raise ValueError("accent_color must be a hex colour such as #1f6f8b")
        return value


class CrisisResource(_Section):
    name: str
    contact: str  # how to reach it
    purpose: str  # what for
    href: str = ""  # tel:/sms: link for phones
    checked: str = ""  # when someone last confirmed it works as written (YYYY-MM-DD)


# 988 in Spanish (checked 2026-11-30 against 988lifeline.org "what to expect"): call
# 988 and press 2, or text AYUDA to 988. Not the former "press 3" option, which ended.
SPANISH_RESOURCES = [
    CrisisResource(
        name="988 Línea de Prevención del Suicidio y Crisis, en español",
        contact="Llame al 988 y marque 2",
        purpose="Apoyo gratuito y confidencial en español, a cualquier hora",
        href="tel:988",
        checked="2026-11-30",
    ),
    CrisisResource(
        name="988 por mensaje de texto, en español",
        contact="Envíe AYUDA al 988",
        purpose="Escriba con un consejero capacitado en español, a cualquier hora",
        href="sms:988?&body=AYUDA",
        checked="2026-11-30",
    ),
    CrisisResource(
        name="Servicios de emergencia",
        contact="Llame al 911",
        purpose="Si usted u otra persona está en peligro inmediato",
        href="tel:911",
        checked="2026-11-30",
    ),
]


class CrisisLanguage(_Section):
    """The resources and note shown to visitors reading one language."""

    resources: list[CrisisResource] = Field(min_length=1)  # a crisis answer lists someone
    note: str = ""


SPANISH = CrisisLanguage(
    resources=SPANISH_RESOURCES,
    note="Este formulario no se revisa a todas horas. Por favor, no espere nuestra respuesta.",
)


class CrisisSettings(_Section):
    resources: list[CrisisResource] = Field(
        min_length=1,
        default=[
            CrisisResource(
                name="988 Suicide & Crisis Lifeline",
                contact="Call or text 988",
                purpose="Free, confidential support, any time, for anyone in distress",
                href="tel:988",
                checked="2026-11-30",
            ),
            CrisisResource(
                name="Emergency services",
                contact="Call 911",
                purpose="If you or someone else is in immediate danger",
                href="tel:911",
                checked="2026-11-30",
            ),
            CrisisResource(
                name="Crisis Text Line",
                contact="Text HOME to 741741",
                purpose="Text with a trained crisis counselor, any time",
                href="sms:741741?&body=HOME",
                checked="2026-11-30",
            ),
        ],
    )
    note: str = "This form is not watched around the clock. Please do not wait for our reply."
    verified: str = "2026-11"  # when the resource list was last checked
    # Per language (``[crisis.languages.es]``): resources and note for visitors who read
    # it. A language without an entry gets ``resources`` and ``note`` above.
    languages: dict[str, CrisisLanguage] = {"es": SPANISH}

    @field_validator("languages")
    @classmethod
    def _keep_builtin_languages(cls, value: dict[str, CrisisLanguage]) -> dict[str, CrisisLanguage]:
        # A clinic adding [crisis.languages.xx] keeps the built-in Spanish list unless it
        # replaces that one too: Spanish readers never fall back to English resources.
        return {"es": SPANISH, **value}

    def for_language(self, lang: str) -> CrisisSettings:
        """The resources and note for visitors reading ``lang``."""
        own = self.languages.get(lang)
        if own is None:
            return self
        return self.model_copy(update={"resources": own.resources, "note": own.note})


MULTILINE_FIELDS = frozenset({"message"})


class FormSettings(_Section):
    title: str = "Contact us"
    fields: list[str] = ["name", "email", "phone", "message"]
    required: list[str] = ["name", "email", "phone", "message"]
    recipients: list[str] = ["frontdesk@clinic.example"]
    allowed_origins: list[str] = []
    redirect: str = ""
    subject: str = "Website contact from {name}"
    medical: Literal["reject", "redact", "flag", "hold"] = "reject"
    crisis_recipients: list[str] = []
    crisis_include_message: bool = False
    # Posts returned faster than this after the form was served are treated as bots.
    # Checked whenever the signed _ts token is present (the hosted form always has it).
    min_fill_seconds: float = Field(3.0, ge=0)
    # Refuse posts without the token (only for forms that fetch it: see README).
    require_fill_token: bool = False
    # A self-hosted proof-of-work check (ALTCHA protocol) that the page's script solves
    # before sending. Off by default: with it on, the form needs JavaScript.
    proof_of_work: bool = False
    # The clinic's language for the staff email ("" = pages.default_language).
    language: Literal["", "en", "es"] = ""

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                raise ValueError(f"field name {name!r}: use lower-case letters, digits, _")
        if len(set(value)) != len(value):
            raise ValueError("field names repeat")
        return value

    @field_validator("recipients", "crisis_recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [check_address(v) for v in value]

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN_RE.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://clinic.example")
        return [o.lower() for o in value]

    @field_validator("redirect")
    @classmethod
    def _redirect(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("redirect must be an absolute http(s) URL or empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FormSettings:
        if not self.recipients:
            raise ValueError("recipients must name at least one address")
        unknown = [f for f in self.required if f not in self.fields]
        if unknown:
            raise ValueError(f"required names fields the form lacks: {unknown}")
        for _, name, spec, conv in string.Formatter().parse(self.subject):
            if name is None:
                continue
            if name not in self.fields or spec or conv:
                raise ValueError(f"subject may only use plain {{field}} names, not {{{name}}}")
        return self

    def multiline(self, field: str) -> bool:
        return field in MULTILINE_FIELDS

    @property
    def urgent_recipients(self) -> list[str]:
        return self.crisis_recipients or self.recipients


class ScreeningSettings(_Section):
    # A folder of lexicon files replacing the shipped config/screening (same layout).
    lexicon_dir: Path | None = None


class PagesSettings(_Section):
    """The visitor pages: languages offered, and a clinic's own templates."""

    languages: list[Literal["en", "es"]] = ["en", "es"]
    default_language: Literal["en", "es"] = "en"
    # A folder whose templates replace the built-in ones of the same name.
    templates_dir: Path | None = None

    @model_validator(mode="after")
    def _default_offered(self) -> PagesSettings:
        if self.default_language not in self.languages:
            raise ValueError(f"default_language {self.default_language!r} is not in languages")
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise ValueError(f"templates_dir {str(self.templates_dir)!r} is not a folder")
        return self


class SecuritySettings(_Section):
    signing_key: SecretStr = SecretStr("")
    # Proof-of-work difficulty: the browser tries up to this many hashes (about a second
    # on a phone at 50,000).
    pow_max_number: int = Field(50_000, ge=1_000, le=10_000_000)

    @field_validator("signing_key")
    @classmethod
    def _key_length(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < MIN_SIGNING_KEY:
            raise ValueError(
                f"signing_key is too short: use at least {MIN_SIGNING_KEY} random characters "
                "(for example: openssl rand -hex 32), or leave it empty to have one generated"
            )
        return value


class InboxSettings(_Section):
    """The ``hold`` inbox (relay.inbox): where staff read held messages after signing in."""

    public_url: str = ""  # e.g. https://forms.clinic.example; the notice links here
    key: SecretStr = SecretStr("")  # base64 of 32 bytes; empty: <data_dir>/inbox.key
    session_idle_minutes: int = Field(15, ge=1, le=24 * 60)
    retention_days: float = Field(30, gt=0, le=3650)
    done_retention_days: float = Field(7, gt=0, le=3650)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?", value):
            raise ValueError(f"not an http(s) base URL: {value!r}")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    smtp: SmtpSettings = SmtpSettings()
    delivery: DeliverySettings = DeliverySettings()
    limits: LimitsSettings = LimitsSettings()
    clinic: ClinicSettings = ClinicSettings()
    crisis: CrisisSettings = CrisisSettings()
    security: SecuritySettings = SecuritySettings()
    screening: ScreeningSettings = ScreeningSettings()
    inbox: InboxSettings = InboxSettings()
    pages: PagesSettings = PagesSettings()
    forms: dict[str, FormSettings] = {"contact": FormSettings()}

    @field_validator("forms")
    @classmethod
    def _form_ids(cls, value: dict[str, FormSettings]) -> dict[str, FormSettings]:
        for form_id in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", form_id):
                raise ValueError(f"form id {form_id!r}: use lower-case letters, digits, - and _")
        if not value:
            raise ValueError("configure at least one form")
        return value

    @model_validator(mode="after")
    def _hold_needs_a_link(self) -> Settings:
        held = sorted(f for f, form in self.forms.items() if form.medical == "hold")
        if held and not self.inbox.public_url:
            raise ValueError(
                f"forms {', '.join(held)} hold medical messages: set inbox.public_url to the "
                "address staff open the relay at (the notice links there), e.g. "
                "https://forms.clinic.example"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over init values; load_settings() passes the TOML file
        # and the *_FILE secrets as init values, so a test's Settings(...) reads no file.
        return (_EnvWithoutFiles(settings_cls), init_settings)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets shown as ``**********``."""
        data: dict[str, Any] = self.model_dump(mode="json")
        for section, key in SECRET_PATHS:
            if getattr(getattr(self, section), key).get_secret_value():
                data[section][key] = "**********"
        data["limits"]["storage"] = _mask_url(self.limits.storage)
        return data


def _mask_url(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:**********@host``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:**********@{host}"))


class _EnvWithoutFiles(EnvSettingsSource):
    """The env source, minus ``RELAY_*_FILE`` names: _secret_files() reads those."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for section, key in SECRET_PATHS:
            if isinstance(data.get(section), dict):
                data[section].pop(f"{key}_file", None)
        return data


def _secret_files(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, file_name in environ.items():
        upper = name.upper()
        if not (upper.startswith(ENV_PREFIX) and upper.endswith("_FILE")):
            continue
        path = tuple(upper[len(ENV_PREFIX) : -len("_FILE")].lower().split("__"))
        if path not in SECRET_PATHS:
            if _is_setting(upper) or not _is_setting(upper[: -len("_FILE")]):
                continue  # an ordinary setting such as RELAY_SMTP__CA_FILE, or unknown
            raise ConfigError(f"{name}: only {_secret_names()} may come from a file")
        try:
            secret = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {file_name}: {exc.strerror}") from None
        out.setdefault(path[0], {})[path[1]] = secret
    return out


def _secret_names() -> str:
    return ", ".join(sorted(f"{ENV_PREFIX}{s.upper()}__{k.upper()}_FILE" for s, k in SECRET_PATHS))


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: --config, then RELAY_CONFIG, then config/relay.toml if present."""
    if explicit is not None:
        return explicit
    if environ.get("RELAY_CONFIG"):
        return Path(environ["RELAY_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(config: Path | None = None) -> Settings:
    """Build the one Settings of a process; raise ConfigError with a readable message."""
    path = config_path(config, os.environ)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    # TOML and secret files enter as init values; the env source sits above them.
    data = _deep_merge(data, _secret_files(os.environ))
    try:
        return Settings(**data)
    except ValueError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid configuration{where}:\n{_explain(exc)}") from None


def _explain(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    lines = []
    for err in errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def _is_setting(name: str) -> bool:
    """Does the variable ``RELAY_<A>__<B>...`` name a setting (or a whole section)?"""
    parts = name[len(ENV_PREFIX) :].lower().split("__")
    model: Any = Settings
    while parts:
        part = parts.pop(0)
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return False
        model = field.annotation
        if get_origin(model) is dict:  # forms: any id, then that form's keys
            if parts:
                parts.pop(0)
            model = get_args(model)[1]
    return True


def _setting_names(form_ids: list[str]) -> Iterator[str]:
    for section, field in Settings.model_fields.items():
        if section == "forms":
            for form_id in form_ids or ["contact"]:
                for key in FormSettings.model_fields:
                    yield f"{ENV_PREFIX}FORMS__{form_id.upper()}__{key.upper()}"
            continue
        yield f"{ENV_PREFIX}{section.upper()}"
        for key in getattr(field.annotation, "model_fields", {}):
            yield f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
    for section, key in SECRET_PATHS:
        yield f"{ENV_PREFIX}{section.upper()}__{key.upper()}_FILE"


def unknown_variables(
    form_ids: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str | None]]:
    """``RELAY_*`` variables that name no setting (so they would be silently ignored),
    each with the nearest known name, if one is close: ``RELAY_SMTP_HOST`` ->
    ``RELAY_SMTP__HOST``. Only names are looked at, never values (they may be secrets)."""
    environ = os.environ if environ is None else environ
    known = sorted(set(_setting_names(form_ids or [])))
    out: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_VARIABLES:
            continue
        secret = (
            upper.endswith("_FILE")
            and tuple(upper[len(ENV_PREFIX) : -len("_FILE")].lower().split("__")) in SECRET_PATHS
        )
        if secret or _is_setting(upper):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        out.append((name, close[0] if close else None))
    return out
