"""The comparator of ``bench/slots.py``: a bare Flask app answering one fixed JSON body.

``GET /body`` answers the bytes of the file ``OKNO_BENCH_BODY_FILE`` names (the slot search's own
answer, so the size is the same) as ``application/json``: what gunicorn, Flask and the socket cost
before any of okno's work. ``GET /data`` answers the same document through ``jsonify`` (parsed once
at start): the least a Flask view that builds this JSON on each request pays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, jsonify

app = Flask(__name__)
_body = Path(os.environ["OKNO_BENCH_BODY_FILE"]).read_bytes()
_data = json.loads(_body)


@app.get("/body")
def body() -> Response:
    return Response(_body, mimetype="application/json")


@app.get("/data")
def data() -> Response:
    return jsonify(_data)


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status": "ok"}', mimetype="application/json")
