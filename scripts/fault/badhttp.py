#!/usr/bin/env python3
"""A hostile HTTP server for scripts/fault-inject.sh: the first path segment picks the fault,
so one server stands in for a broken Prometheus, /metrics endpoint or /health endpoint.

  /nodata/...   200 {"status":"ok"}            (a proxy or a wrong URL answering JSON)
  /html/...     200 an HTML login page         (a captive proxy)
  /big/...      200 10 MB of JSON-ish bytes    (a runaway answer)
  /hang/...     accepts, never answers         (a stuck upstream)
  /slow/...     answers after 8 s              (slower than any timeout)
  /error/...    422 {"status":"error",...}     (a Prometheus that rejects the query)
  /health500/   500 {"status":"degraded"}      (a health endpoint listing no services)
Usage: badhttp.py PORT
"""
import http.server
import socketserver
import sys
import threading
import time

STOP = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        mode = self.path.strip("/").split("/")[0].split("?")[0]
        if mode == "nodata":
            self.send(200, b'{"status":"ok"}')
        elif mode == "html":
            self.send(200, b"<html><body><h1>Please log in</h1></body></html>", "text/html")
        elif mode == "big":
            self.send(200, b'{"status":"success","data":{"resultType":"vector","result":[' + b" " * (10 << 20) + b"]}}")
        elif mode == "hang":
            STOP.wait(600)
        elif mode == "slow":
            STOP.wait(8)
            self.send(200, b'{"status":"success","data":{"resultType":"vector","result":[]}}')
        elif mode == "error":
            self.send(422, b'{"status":"error","errorType":"bad_data","error":"parse error"}')
        elif mode == "health500":
            self.send(500, b'{"status":"degraded","services":{}}')
        else:
            self.send(404, b"{}")

    do_POST = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    try:
        srv.serve_forever()
    finally:
        STOP.set()
