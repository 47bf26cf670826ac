"""`/predict`'s request read by hand: one multipart part and two query parameters.

FastAPI's `UploadFile` parses the form with python-multipart into a spooled temporary file, and its
dependency solving validates each parameter: about 0.2 ms of event-loop time per request
(docs/benchmarks.md), on the one loop every request shares. The route reads the body once, finds
the `file` part by its boundary and checks the two parameters here, with the same answers: 413
for a body over the limit, 422 naming a missing or invalid field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from fingercount.errors import InvalidRequestError, PayloadTooLargeError

TRUE = {"1", "true", "on", "yes", "t", "y"}  # what FastAPI (pydantic) reads as a bool
FALSE = {"0", "false", "off", "no", "f", "n"}


async def read_body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or 413 once it passes `limit` (a chunked upload announces no length)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the request body is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _boundary(content_type: str) -> bytes:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise InvalidRequestError("body.file: Field required (send the image as multipart/form-data, field `file`)")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return value.strip('"').encode("latin-1")
    raise InvalidRequestError("body.file: the multipart/form-data content type has no boundary")


def _field_name(headers: bytes) -> str | None:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() != b"content-disposition":
            continue
        for param in value.split(b";")[1:]:
            key, _, quoted = param.strip().partition(b"=")
            if key.lower() == b"name":
                return quoted.strip(b'"').decode("utf-8", "replace")
    return None


def multipart_field(body: bytes, content_type: str, field: str = "file") -> bytes:
    """The content of the part named `field` (RFC 7578); 422 when there is none."""
    delimiter = b"--" + _boundary(content_type)
    # Parts sit between "\r\n--boundary" lines; the body starts with "--boundary" (after an optional preamble).
    parts = (b"\r\n" + body).split(b"\r\n" + delimiter)
    for part in parts[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        headers, separator, content = part.partition(b"\r\n\r\n")
        if separator and _field_name(headers) == field:
            return content
    raise InvalidRequestError(f"body.{field}: Field required (a multipart part named `{field}`)")


def query_conf(params: Mapping[str, str]) -> float | None:
    """`conf`, or the seed's name for it, `conf_threshold` (not both)."""
    given = [name for name in ("conf", "conf_threshold") if params.get(name) is not None]
    if len(given) > 1:
        raise InvalidRequestError("query.conf: give conf or conf_threshold, not both")
    if not given:
        return None
    name = given[0]
    value = params[name]
    try:
        conf = float(value)
    except ValueError:
        conf = float("nan")
    if not 0.0 <= conf <= 1.0:
        raise InvalidRequestError(f"query.{name}: must be a number from 0 to 1, got {value!r}")
    return conf


def query_bool(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise InvalidRequestError(f"query.{name}: must be true or false, got {value!r}")
