"""Join tokens: every claim as Jitsi's Prosody token module and JaaS check it, both algorithms, the role split."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import pytest

from booking.consultation_window import join_window
from tests.unit.video.jwtcheck import clock_at, decode_at, public_key_of
from video.tokens import (
    JitsiSettings,
    OutsideWindow,
    Participant,
    VideoConfigError,
    join_url,
    mint_token,
    room_url,
)

ROOM = "k3q9z0abcdefghijklmnopqrst"
START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
WINDOW = join_window(START, START + timedelta(minutes=30), opens_before=timedelta(minutes=10),
                     closes_after=timedelta(minutes=30))
NOW = START - timedelta(minutes=2)
EXPERT = Participant(id="expert-7", name="Мария Козлова", is_moderator=True)
CITIZEN = Participant(id="citizen-42", name="Анна", is_moderator=False)
SECRET = "s" * 48
HS = JitsiSettings(base_url="https://meet.example.org", app_id="okno", app_secret=SECRET, audience="jitsi")


def jaas(pem: str, key_id: str = "4f4910") -> JitsiSettings:
    return JitsiSettings(base_url="https://8x8.vc/vpaas-magic-cookie-1fc5", app_id="vpaas-magic-cookie-1fc5",
                         private_key=pem, key_id=key_id, audience="jitsi")


def header_of(token: str) -> dict[str, Any]:
    first = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))  # type: ignore[no-any-return]


def mint(settings: JitsiSettings, who: Participant = EXPERT, now: datetime = NOW) -> str:
    return mint_token(settings, room=ROOM, window=WINDOW, participant=who, now=now)


def test_hs256_token_carries_exactly_what_a_self_hosted_prosody_checks() -> None:
    token = mint(HS)
    claims = decode_at(token, SECRET, NOW, algorithm="HS256", audience="jitsi", issuer="okno")
    assert header_of(token) == {"alg": "HS256", "typ": "JWT"}
    assert claims == {
        "iss": "okno", "aud": "jitsi", "sub": "meet.example.org", "room": ROOM,
        "iat": int(NOW.timestamp()), "nbf": int(WINDOW.opens_at.timestamp()), "exp": int(WINDOW.closes_at.timestamp()),
        "context": {"user": {"id": "expert-7", "name": "Мария Козлова", "affiliation": "owner", "moderator": True}},
    }


def test_rs256_token_is_in_the_jaas_format(rsa_pem: str) -> None:
    settings = jaas(rsa_pem)
    token = mint(settings)
    claims = decode_at(token, public_key_of(rsa_pem), NOW, algorithm="RS256", audience="jitsi", issuer="chat")
    assert header_of(token) == {"alg": "RS256", "typ": "JWT", "kid": "vpaas-magic-cookie-1fc5/4f4910"}
    assert claims["sub"] == "vpaas-magic-cookie-1fc5"
    assert claims["room"] == ROOM
    assert (claims["nbf"], claims["exp"]) == (int(WINDOW.opens_at.timestamp()), int(WINDOW.closes_at.timestamp()))
    assert claims["context"]["user"] == {"id": "expert-7", "name": "Мария Козлова", "moderator": "true"}
    assert claims["context"]["features"]["recording"] == "false"


def test_a_key_id_copied_whole_from_the_jaas_console_is_used_as_is(rsa_pem: str) -> None:
    token = mint(jaas(rsa_pem, key_id="vpaas-magic-cookie-1fc5/4f4910"))
    assert header_of(token)["kid"] == "vpaas-magic-cookie-1fc5/4f4910"


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
def test_the_expert_is_the_moderator_and_the_citizen_a_plain_participant(algorithm: str, rsa_pem: str) -> None:
    settings, key, issuer = (HS, SECRET, "okno") if algorithm == "HS256" else (jaas(rsa_pem), public_key_of(rsa_pem),
                                                                                "chat")
    expert = decode_at(mint(settings, EXPERT), key, NOW, algorithm=algorithm, audience="jitsi", issuer=issuer)
    citizen = decode_at(mint(settings, CITIZEN), key, NOW, algorithm=algorithm, audience="jitsi", issuer=issuer)
    if algorithm == "HS256":
        # What jitsi-contrib's token_affiliation reads: owner only for "owner"/"moderator"/true.
        assert (expert["context"]["user"]["affiliation"], expert["context"]["user"]["moderator"]) == ("owner", True)
        assert (citizen["context"]["user"]["affiliation"], citizen["context"]["user"]["moderator"]) == ("member", False)
    else:
        assert expert["context"]["user"]["moderator"] == "true"
        assert citizen["context"]["user"]["moderator"] == "false"
    assert citizen["context"]["user"]["id"] != expert["context"]["user"]["id"]


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
def test_the_token_is_valid_exactly_inside_the_window(algorithm: str, rsa_pem: str) -> None:
    settings, key, issuer = (HS, SECRET, "okno") if algorithm == "HS256" else (jaas(rsa_pem), public_key_of(rsa_pem),
                                                                                "chat")
    token = mint(settings, now=WINDOW.opens_at)
    check = {"algorithm": algorithm, "audience": "jitsi", "issuer": issuer}
    assert decode_at(token, key, WINDOW.opens_at, **check)["room"] == ROOM
    assert decode_at(token, key, WINDOW.closes_at - timedelta(seconds=1), **check)["room"] == ROOM
    with pytest.raises(jwt.ImmatureSignatureError):
        decode_at(token, key, WINDOW.opens_at - timedelta(seconds=1), **check)
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_at(token, key, WINDOW.closes_at, **check)


@pytest.mark.parametrize("now", [WINDOW.opens_at - timedelta(seconds=1), WINDOW.closes_at,
                                 WINDOW.closes_at + timedelta(days=3)])
def test_no_token_is_minted_outside_the_window(now: datetime) -> None:
    with pytest.raises(OutsideWindow):
        mint(HS, now=now)


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    token = mint(JitsiSettings(base_url=HS.base_url, app_id="okno", app_secret="x" * 48))
    with pytest.raises(jwt.InvalidSignatureError):
        decode_at(token, SECRET, NOW, algorithm="HS256", audience="jitsi", issuer="okno")


def test_the_token_holds_no_personal_data_beyond_the_display_name() -> None:
    with clock_at(NOW):
        claims = jwt.decode(mint(HS, CITIZEN), SECRET, algorithms=["HS256"], audience="jitsi")
    assert claims["context"] == {"user": {"id": "citizen-42", "name": "Анна", "affiliation": "member",
                                          "moderator": False}}
    assert set(claims) == {"iss", "aud", "sub", "room", "iat", "nbf", "exp", "context"}


def test_without_a_secret_there_are_plain_links_and_no_tokens() -> None:
    plain = JitsiSettings(base_url="https://meet.example.org")
    assert not plain.signs_tokens
    with pytest.raises(VideoConfigError):
        mint(plain)
    assert join_url(plain, ROOM, None) == room_url(plain, ROOM) == f"https://meet.example.org/{ROOM}"


def test_the_token_travels_in_the_fragment_as_jitsi_parses_it() -> None:
    token = mint(HS)
    url = urlsplit(join_url(HS, ROOM, token))
    assert (url.scheme, url.netloc, url.path, url.query) == ("https", "meet.example.org", f"/{ROOM}", "")
    name, _, value = url.fragment.partition("=")
    # Jitsi Meet JSON-parses fragment parameters (parseURLParams(url, false, 'hash')).
    assert name == "jwt"
    assert json.loads(unquote(value)) == token


def base_config(**overrides: Any) -> dict[str, Any]:
    return {"JITSI_URL": "https://meet.example.org/", "JITSI_APP_ID": "okno", "JITSI_APP_SECRET": "",
            "JITSI_PRIVATE_KEY_FILE": "", "JITSI_KEY_ID": "", "JITSI_AUDIENCE": "jitsi", **overrides}


def test_settings_choose_the_algorithm_from_the_configuration(tmp_path: Path, rsa_pem: str) -> None:
    key_file = tmp_path / "jaas.pem"
    key_file.write_text(rsa_pem, encoding="ascii")
    assert JitsiSettings.from_config(base_config()).algorithm is None
    hs = JitsiSettings.from_config(base_config(JITSI_APP_SECRET=SECRET))
    assert (hs.algorithm, hs.base_url, hs.domain) == ("HS256", "https://meet.example.org", "meet.example.org")
    rs = JitsiSettings.from_config(base_config(JITSI_PRIVATE_KEY_FILE=str(key_file), JITSI_KEY_ID="k1"))
    assert (rs.algorithm, rs.private_key) == ("RS256", rsa_pem)


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"JITSI_APP_SECRET": SECRET, "JITSI_APP_ID": ""}, "JITSI_APP_ID"),
    ({"JITSI_PRIVATE_KEY_FILE": "/nonexistent/jaas.pem", "JITSI_KEY_ID": "k1"}, "JITSI_PRIVATE_KEY_FILE"),
    ({"JITSI_URL": "meet.example.org", "JITSI_APP_SECRET": SECRET}, "JITSI_URL"),
])
def test_settings_that_cannot_sign_are_refused_with_the_setting_named(overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(VideoConfigError, match=problem):
        JitsiSettings.from_config(base_config(**overrides))


def test_a_private_key_without_a_key_id_is_refused(tmp_path: Path, rsa_pem: str) -> None:
    key_file = tmp_path / "jaas.pem"
    key_file.write_text(rsa_pem, encoding="ascii")
    with pytest.raises(VideoConfigError, match="JITSI_KEY_ID"):
        JitsiSettings.from_config(base_config(JITSI_PRIVATE_KEY_FILE=str(key_file)))
