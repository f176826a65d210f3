"""Fixtures for the video token tests."""

from __future__ import annotations

import pytest

from tests.unit.video.jwtcheck import new_rsa_pem


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return new_rsa_pem()
