"""Receiving an import file: the request body goes straight to a spool file on disk, hashed and
checked as it streams, so a 2 GB upload never sits in memory.

Two ways to send it:
- `multipart/form-data` with a `file` part and optional small fields `column_mapping` (JSON),
  `format`, `delimiter`, `encoding`, `sheet`;
- the raw file as the body (`Content-Type: text/csv`, `application/x-ndjson`, the XLSX type or
  `application/octet-stream`) with the same options as query parameters and `file_name`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from umkm_shared.errors import BadRequest, PayloadTooLarge

from .readers import EncodingSniffer

HEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 64 * 1024
FIELDS = ("column_mapping", "format", "delimiter", "encoding", "sheet", "file_name")


@dataclass
class Upload:
    path: Path
    file_name: str
    size: int = 0
    sha256: str = ""
    encoding: str = "utf-8"  # what the bytes decode as (meaningful for text formats)
    head: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)


class _Sink:
    """Writes the file part to disk while hashing it, sniffing its encoding and capping its size."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.file: IO[bytes] | None = None
        self.hash = hashlib.sha256()
        self.sniffer = EncodingSniffer()
        self.size = 0
        self.head = bytearray()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("wb")

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(
                detail=f"The file exceeds {self.max_bytes} bytes.",
                extra={"max_bytes": self.max_bytes},
            )
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.hash.update(data)
        self.sniffer.feed(data)
        assert self.file is not None
        self.file.write(data)

    def close(self) -> None:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None


class _Form:
    """python-multipart callbacks: the `file` part to the sink, small fields to memory."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.fields: dict[str, str] = {}
        self.file_name: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._name: str | None = None
        self._to_file = False
        self._buf = bytearray()
        self.files_seen = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._hfield,
            "on_header_value": self._hval,
            "on_header_end": self._hend,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._hname, self._hvalue = {}, b"", b""
        self._name, self._to_file, self._buf = None, False, bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hval(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _hend(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname, self._hvalue = b"", b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._name = name
        if filename is not None and name in ("file", "upload", ""):
            self.files_seen += 1
            if self.files_seen > 1:
                raise BadRequest(detail="Send one file per import.")
            self.file_name = filename.decode("utf-8", "replace")
            self._to_file = True
            self.sink.open()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._to_file:
            self.sink.write(data[start:end])
        else:
            self._buf += data[start:end]
            if len(self._buf) > MAX_FIELD_BYTES:
                raise BadRequest(detail=f"Form field {self._name!r} is larger than 64 KB.")

    def _end(self) -> None:
        if self._to_file:
            self.sink.close()
            self._to_file = False
        elif self._name in FIELDS:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")


async def receive(request: Request, path: Path, max_bytes: int) -> Upload:
    """Stream the request's file to `path`; on any failure nothing is left behind."""
    sink = _Sink(path, max_bytes)
    content_type = request.headers.get("content-type", "")
    ctype, params = parse_options_header(content_type)
    try:
        if ctype == b"multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise BadRequest(detail="multipart/form-data without a boundary.")
            form = _Form(sink)
            parser = MultipartParser(boundary, cast(Any, form.callbacks()))
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
            if form.file_name is None:
                raise BadRequest(
                    detail="No file: send it as the multipart part named 'file' "
                    "(curl -F file=@data.csv)."
                )
            fields, file_name = form.fields, form.file_name
        else:
            sink.open()
            async for chunk in request.stream():
                sink.write(chunk)
            sink.close()
            fields = {k: v for k, v in request.query_params.items() if k in FIELDS}
            file_name = fields.get("file_name") or "upload"
    except ClientDisconnect:
        sink.close()
        with contextlib.suppress(OSError):
            path.unlink()
        raise BadRequest(detail="The upload was interrupted.") from None
    except BaseException:
        sink.close()
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return Upload(
        path=path,
        file_name=Path(file_name.replace("\\", "/")).name[:255] or "upload",
        size=sink.size,
        sha256=sink.hash.hexdigest(),
        encoding=sink.sniffer.result(),
        head=bytes(sink.head),
        fields=fields,
    )
