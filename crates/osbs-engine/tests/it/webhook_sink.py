"""Webhook receiver for osbs-engine's notification tests.

Usage: webhook_sink.py OUT_FILE [FAIL_FIRST]

Listens on 127.0.0.1 on a free port and prints the port on its first stdout line. Each POST
body is appended to OUT_FILE as one JSON line; the first FAIL_FIRST requests (default 0) are
answered 500 (and still recorded), later ones 200.
"""

import http.server
import json
import sys

out_file = sys.argv[1]
fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with open(out_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(json.loads(body)) + "\n")
        seen += 1
        status = 500 if seen <= fail_first else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        sys.stderr.write(format % args + "\n")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
