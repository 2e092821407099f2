#!/usr/bin/env python3
"""A ClickHouse HTTP interface in front of chDB: it stands in for a MODERN ClickHouse server.

No modern ClickHouse server runs on the test machines (Debian ships 18.16); chDB (`pip install
chdb-core`) is the modern engine (26.x) in-process. This script serves the part of ClickHouse's
HTTP interface that the `clickhouse` crate uses, so the sink's and the store's real client path
(HTTP, RowBinary, query parameters) runs against the modern engine:

- `POST /?query=INSERT INTO t (cols) FORMAT RowBinary` with the rows as the body: the body goes
  to a temp file, then `INSERT INTO t (cols) FROM INFILE 'file' FORMAT RowBinary`;
- any other statement: the `query` URL parameter followed by the body (ClickHouse's rule), or a
  `multipart/form-data` body with a `query` part and `param_<name>` parts (how the crate sends
  query parameters), run by `session.query(sql, format, params=...)`; the output format is the
  statement's `FORMAT`, else `default_format`, else TabSeparated;
- `GET /ping` answers `Ok.`; errors answer 500 with the exception text, as ClickHouse does.

Compression is not supported: clients use `Compression::None`. One session on disk (the
directory given), one request at a time.

    chdb_http.py PORT SESSION_DIR     # prints "listening PORT" once ready
"""

import email.parser
import email.policy
import os
import re
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chdb import session as chs

INSERT_RE = re.compile(r"^\s*INSERT\s+INTO\s+(.+?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)
FORMAT_RE = re.compile(r"\sFORMAT\s+(\w+)\s*;?\s*$", re.I)

LOCK = threading.Lock()
SESSION = None
TMP = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/plain; charset=UTF-8"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if code != 200:
            self.send_header("X-ClickHouse-Exception-Code", "1")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/ping", "/"):
            return self.reply(200, "Ok.\n")
        self.reply(404, "not found")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        args = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        params = {k[len("param_"):]: v for k, v in args.items() if k.startswith("param_")}
        ctype = self.headers.get("Content-Type", "")
        query = args.get("query", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
            )
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                value = part.get_payload(decode=True).decode()
                if name == "query":
                    query = value
                elif name and name.startswith("param_"):
                    params[name[len("param_"):]] = value
            body = b""
        try:
            with LOCK:
                out, fmt = self.run(query, body, params, args.get("default_format"))
        except Exception as e:  # the engine's error, as ClickHouse reports it (its code first)
            text = str(e)
            code = re.search(r"Code: (\d+)", text)
            return self.reply(500, f"Code: {code.group(1) if code else 1}. DB::Exception: {text}\n")
        self.reply(200, out, "application/octet-stream" if fmt.startswith("RowBinary") else "text/plain")

    def read_chunked(self):
        data = bytearray()
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline()

    def run(self, query, body, params, default_format):
        m = INSERT_RE.match(query)
        if m and body:
            target, fmt = m.group(1), m.group(2)
            fd, path = tempfile.mkstemp(dir=TMP, suffix=".bin")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                SESSION.query(f"INSERT INTO {target} FROM INFILE '{path}' FORMAT {fmt}", "TabSeparated")
            finally:
                os.unlink(path)
            return b"", "TabSeparated"
        sql = query
        if body:
            sql = (sql + "\n" + body.decode()).strip()
        fm = FORMAT_RE.search(sql)
        if fm:
            fmt = fm.group(1)
            sql = sql[: fm.start()]
        else:
            fmt = default_format or "TabSeparated"
        res = SESSION.query(sql, fmt, params=params) if params else SESSION.query(sql, fmt)
        return res.bytes() if res is not None else b"", fmt


def main():
    global SESSION, TMP
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    TMP = tempfile.mkdtemp(prefix="chdb-http-")
    SESSION = chs.Session(directory)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
