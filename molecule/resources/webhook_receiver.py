"""A webhook receiver for the lab: records every notification Alertmanager posts to it.

POST any path: the JSON body is appended, one line each, to the record file as
{"received_at": <unix seconds>, "path": ..., "payload": <the body>}. GET /notifications answers
the whole record as a JSON list, so a test reads what arrived, and when, over HTTP;
DELETE /notifications empties it. Python's standard library only: it runs on the lab's hosts as
they are.

  python3 webhook_receiver.py --listen 127.0.0.1:9095 --record /var/lib/webhook/record.jsonl
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORD_PATH = "/notifications"


class Recorder(BaseHTTPRequestHandler):
    record: Path
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            payload = json.loads(body)
        except ValueError:
            self.answer(400, {"error": "the body is not JSON"})
            return
        line = json.dumps({"received_at": time.time(), "path": self.path, "payload": payload})
        with self.lock, self.record.open("a") as record:
            record.write(line + "\n")
        self.answer(200, {"recorded": True})

    def do_GET(self):
        if self.path != RECORD_PATH:
            self.answer(404, {"error": f"GET {RECORD_PATH} lists the notifications"})
            return
        with self.lock:
            lines = self.record.read_text().splitlines() if self.record.exists() else []
        self.answer(200, [json.loads(line) for line in lines])

    def do_DELETE(self):
        if self.path != RECORD_PATH:
            self.answer(404, {"error": f"DELETE {RECORD_PATH} empties the record"})
            return
        with self.lock:
            self.record.write_text("")
        self.answer(200, {"emptied": True})

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """The record is the log; journald needs no line per request."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9095", help="host:port to listen on")
    parser.add_argument("--record", required=True, type=Path, help="file the notifications go to")
    args = parser.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    args.record.parent.mkdir(parents=True, exist_ok=True)
    Recorder.record = args.record
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), Recorder)
    server.serve_forever()


if __name__ == "__main__":
    main()
