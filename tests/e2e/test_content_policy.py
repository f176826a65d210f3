"""The browser tests' CSP watch works: a page that runs inline script is caught, and the script does not run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import conftest
from tests.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_an_inline_script_is_refused_and_reported(phone_page: Any) -> None:
    response = phone_page.goto("/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    phone_page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.ranInline = true";
        document.body.append(script);
        const link = document.createElement("div");
        link.setAttribute("onclick", "window.ranInline = true");
        document.body.append(link);
        link.click();
    }""")
    found = wait_for(lambda: list(conftest.CSP_VIOLATIONS), 10, "a CSP violation reported")
    assert phone_page.evaluate("window.ranInline") is None
    assert any("script-src" in v for v in found), found
    conftest.CSP_VIOLATIONS.clear()  # expected here; any other test fails on one
