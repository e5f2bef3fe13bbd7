"""``Credentials``: flytekit-compatible construction, redaction, store entries, refresh timing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from oauth_login import _credentials
from oauth_login._credentials import MAX_ENTRY_CHARS, Credentials

ACCESS = "ACCESS-TOKEN-VALUE"
REFRESH = "REFRESH-TOKEN-VALUE"
ID_TOKEN = "ID-TOKEN-VALUE"
T0 = 1_700_000_000.0


@pytest.fixture
def frozen_time(monkeypatch):
    clock = SimpleNamespace(now=T0)
    monkeypatch.setattr(_credentials, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


def full(**changes) -> Credentials:
    args = {
        "expires_in": 3600,
        "scopes": "openid api",
        "claims": {"sub": "u1", "email": "alice@example.com"},
        "issued_at": T0,
        "id_token": ID_TOKEN,
    }
    args.update(changes)
    return Credentials(ACCESS, REFRESH, "https://idp.test", **args)


def test_positional_parameters_follow_flytekit():
    creds = Credentials(ACCESS, REFRESH, "https://idp.test", 3600, ID_TOKEN, issued_at=T0)
    assert creds.access_token == ACCESS
    assert creds.refresh_token == REFRESH
    assert creds.for_endpoint == "https://idp.test"
    assert creds.expires_at == datetime.fromtimestamp(T0 + 3600, tz=timezone.utc)
    assert creds.id_token == ID_TOKEN


def test_only_the_access_token_is_required():
    creds = Credentials(ACCESS)
    assert (creds.refresh_token, creds.for_endpoint, creds.expires_at, creds.id_token) == (
        None,
        "",
        None,
        None,
    )
    assert creds.token_type == "Bearer"
    assert creds.scopes == ()


@pytest.mark.parametrize(
    "render", [repr, str, lambda c: f"{c}", lambda c: repr([c]), lambda c: repr({"c": c})]
)
def test_repr_and_str_contain_no_token_values(render):
    text = render(full())
    for secret in (ACCESS, REFRESH, ID_TOKEN):
        assert secret not in text
    assert "alice@example.com" in text
    assert "redacted" in text


def test_repr_says_which_tokens_are_absent():
    text = repr(Credentials(ACCESS))
    assert "refresh_token=None" in text and "id_token=None" in text


def test_expires_at_is_aware_utc_from_seconds_datetime_or_other_timezone():
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2030, 1, 1, 14, 0, tzinfo=plus_two)
    for value in (local, local.timestamp()):
        creds = Credentials(ACCESS, expires_at=value)
        assert creds.expires_at is not None
        assert creds.expires_at.utcoffset() == timedelta(0)
        assert creds.expires_at == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_naive_datetime_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        Credentials(ACCESS, expires_at=datetime(2030, 1, 1))


def test_expires_at_wins_over_expires_in():
    creds = Credentials(ACCESS, expires_in=10, expires_at=T0 + 500, issued_at=T0)
    assert creds.expires_at is not None
    assert creds.expires_at.timestamp() == T0 + 500


def test_expires_in_property_counts_whole_seconds_left(frozen_time):
    creds = Credentials(ACCESS, expires_in=3600, issued_at=T0)
    assert creds.expires_in == 3600
    frozen_time.now = T0 + 3599.5
    assert creds.expires_in == 0
    frozen_time.now = T0 + 3700
    assert creds.expires_in == -100
    assert Credentials(ACCESS).expires_in is None


def test_expires_in_given_without_issued_at_counts_from_now(frozen_time):
    creds = Credentials(ACCESS, expires_in=60)
    assert creds.issued_at == T0
    assert creds.expires_at is not None and creds.expires_at.timestamp() == T0 + 60


def test_expired_honours_now_and_leeway():
    creds = Credentials(ACCESS, expires_in=100, issued_at=T0)
    assert creds.expired(now=T0 + 99) is False
    assert creds.expired(now=T0 + 100) is True
    assert creds.expired(now=T0 + 95, leeway=10) is True
    assert Credentials(ACCESS).expired(now=T0 + 1e9) is False  # no expiry given


def test_refresh_due_uses_the_margin_for_long_lived_tokens():
    creds = Credentials(ACCESS, expires_in=3600, issued_at=T0)
    assert creds.refresh_due(60) == T0 + 3600 - 60


def test_refresh_due_is_capped_at_a_quarter_of_the_lifetime():
    creds = Credentials(ACCESS, expires_in=100, issued_at=T0)
    assert creds.refresh_due(60) == T0 + 100 - 25


def test_refresh_due_of_an_already_expired_token_is_its_expiry():
    creds = Credentials(ACCESS, expires_at=T0 - 10, issued_at=T0)
    assert creds.refresh_due(60) == T0 - 10


def test_refresh_due_without_expiry_is_never():
    assert Credentials(ACCESS).refresh_due(60) == float("inf")


def test_scopes_from_a_string_or_a_list():
    assert Credentials(ACCESS, scopes="openid  api\tx").scopes == ("openid", "api", "x")
    assert Credentials(ACCESS, scopes=["openid", "api"]).scopes == ("openid", "api")


def test_account_prefers_email_then_username_then_name_then_subject():
    assert (
        Credentials(ACCESS, claims={"sub": "s", "name": "n", "preferred_username": "u", "email": "e"}).account
        == "e"
    )
    assert Credentials(ACCESS, claims={"sub": "s", "name": "n", "preferred_username": "u"}).account == "u"
    assert Credentials(ACCESS, claims={"sub": "s", "name": "n"}).account == "n"
    assert Credentials(ACCESS, claims={"sub": "s"}).account == "s"
    assert Credentials(ACCESS).account == "unknown user"


def test_entry_round_trip_through_json():
    creds = full()
    entry = json.loads(json.dumps(creds.to_entry()))
    assert Credentials.from_entry(entry) == creds


def test_entry_round_trip_without_optional_parts():
    creds = Credentials(ACCESS, issued_at=T0)
    entry = creds.to_entry()
    assert "refresh_token" not in entry and "id_token" not in entry
    assert Credentials.from_entry(json.loads(json.dumps(entry))) == creds


def test_replace_changes_only_what_is_named():
    creds = full()
    changed = creds.replace(access_token="NEW")
    assert changed.access_token == "NEW"
    assert changed.refresh_token == REFRESH and changed.expires_at == creds.expires_at
    assert creds.access_token == ACCESS


def _size(entry: dict) -> int:
    return len(json.dumps(entry, separators=(",", ":")))


def test_small_entries_keep_everything():
    entry = full().to_entry()
    assert entry["id_token"] == ID_TOKEN
    assert entry["claims"] == {"sub": "u1", "email": "alice@example.com"}
    assert _size(entry) <= MAX_ENTRY_CHARS


def test_compaction_drops_the_id_token_first():
    creds = full(id_token="x" * 3000)
    entry = creds.to_entry(max_chars=MAX_ENTRY_CHARS)
    assert "id_token" not in entry
    assert entry["claims"] == {"sub": "u1", "email": "alice@example.com"}
    assert entry["access_token"] == ACCESS and entry["refresh_token"] == REFRESH
    assert _size(entry) <= MAX_ENTRY_CHARS


def test_compaction_drops_the_claims_next():
    creds = full(id_token="x" * 3000, claims={"name": "n" * 3000})
    entry = creds.to_entry(max_chars=MAX_ENTRY_CHARS)
    assert "id_token" not in entry and "claims" not in entry
    assert entry["access_token"] == ACCESS and entry["refresh_token"] == REFRESH
    assert _size(entry) <= MAX_ENTRY_CHARS
    restored = Credentials.from_entry(entry)
    assert restored.claims == {} and restored.id_token is None and restored.refresh_token == REFRESH


def test_compaction_respects_a_smaller_budget():
    creds = full()
    budget = _size(creds.to_entry()) - 1
    entry = creds.to_entry(max_chars=budget)
    assert "id_token" not in entry and "claims" in entry
    assert _size(entry) <= budget


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"access_token": ""},
        {"access_token": 12},
        {"access_token": ACCESS, "expires_at": "tomorrow"},
        {"access_token": ACCESS, "expires_at": True},
        {"access_token": ACCESS, "issued_at": [1]},
        {"access_token": ACCESS, "claims": ["a"]},
        {"access_token": ACCESS, "claims": "email"},
    ],
)
def test_malformed_entries_raise_value_error_without_content(entry):
    entry = {**entry, "refresh_token": REFRESH}
    with pytest.raises(ValueError, match=r"^stored entry ") as info:
        Credentials.from_entry(entry)
    assert REFRESH not in str(info.value)
    assert ACCESS not in str(info.value)


@pytest.mark.parametrize("entry", ["garbage", ["access_token"], 42])
def test_an_entry_that_is_not_an_object_raises_value_error(entry):
    # The client catches ValueError only: anything else turns a corrupt store entry into a crash,
    # where DESIGN says "corrupt entries are ignored with a warning, never a crash".
    with pytest.raises(ValueError, match="not an object"):
        Credentials.from_entry(entry)


@pytest.mark.parametrize("expires_at", [1e20, float("inf"), -1e20])
def test_out_of_range_times_raise_value_error(expires_at):
    # JSON happily holds 1e20 (and Python's json reads Infinity); datetime cannot.
    with pytest.raises(ValueError, match="time") as info:
        Credentials.from_entry({"access_token": ACCESS, "expires_at": expires_at, "refresh_token": REFRESH})
    assert REFRESH not in str(info.value)


def test_from_entry_tolerates_missing_optional_fields():
    creds = Credentials.from_entry({"access_token": ACCESS, "refresh_token": "", "token_type": 5})
    assert creds.refresh_token is None
    assert creds.token_type == "Bearer"
    assert creds.expires_at is None


def test_equality_compares_every_field_and_credentials_are_unhashable():
    assert full() == full()
    assert full() != full(scopes="openid")
    assert full() != "not credentials"
    with pytest.raises(TypeError):
        hash(full())
