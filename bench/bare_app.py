"""The benchmarks' comparator: a bare Flask app with no hooks, served by gunicorn as
``bench.bare_app:app`` with the same settings as okno; never used outside the benchmarks.

* ``GET /bare`` answers a tiny JSON document: the ceiling a cheap okno endpoint is measured
  against (``bench/endpoints.py``); ``POST /bare`` reads a JSON body and answers 201, the
  comparator of a booking rush (``bench/rush.py``).
* ``GET /body`` answers the bytes of the file ``OKNO_BENCH_BODY_FILE`` names (the slot search's
  own answer, so the size is the same) as ``application/json``: what gunicorn, Flask and the
  socket cost before any of okno's work (``bench/slots.py``).
* ``GET /data`` answers the same document through ``jsonify`` (parsed once at start): the least a
  Flask view that builds this JSON on each request pays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_body_file = os.environ.get("OKNO_BENCH_BODY_FILE")
_body = Path(_body_file).read_bytes() if _body_file else b"{}"
_data = json.loads(_body)


@app.get("/bare")
def bare() -> Response:
    return jsonify({"status": "ok"})


@app.post("/bare")
def bare_post() -> tuple[Response, int]:
    return jsonify({"received": len(request.get_json(force=True) or {})}), 201


@app.get("/body")
def body() -> Response:
    return Response(_body, mimetype="application/json")


@app.get("/data")
def data() -> Response:
    return jsonify(_data)


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status": "ok"}', mimetype="application/json")
