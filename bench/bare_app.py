"""The comparator of ``bench/endpoints.py``: a bare Flask app with one JSON endpoint and no hooks.

Served by gunicorn as ``bench.bare_app:app`` with the same settings as okno, it is the ceiling a
cheap okno endpoint is measured against; never used outside the benchmark.
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare() -> object:
    return jsonify({"status": "ok"})
