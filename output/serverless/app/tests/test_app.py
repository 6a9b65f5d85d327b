"""Unit tests of src/app.py: no AWS account needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import app


def request(path: str, method: str = "GET") -> dict:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}},
    }


def test_health_is_ok():
    reply = app.handler(request("/health"), None)
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"]) == {"status": "ok"}


def test_root_names_the_app_and_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENVIRONMENT", "dev")
    reply = app.handler(request("/"), None)
    assert reply["statusCode"] == 200
    assert reply["headers"]["content-type"] == "application/json"
    assert json.loads(reply["body"]) == {"app": "serverless", "environment": "dev"}


def test_unknown_path_is_not_found():
    assert app.handler(request("/nope"), None)["statusCode"] == 404


def test_other_methods_are_refused():
    assert app.handler(request("/health", "POST"), None)["statusCode"] == 405
