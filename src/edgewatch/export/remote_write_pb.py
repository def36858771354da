"""Prometheus remote_write 1.0 messages as protobuf classes, built from a descriptor.

The sender does not use these to encode (``remote_write_encode`` writes the
wire format directly, vectorised, which is the hot path); they are the
reference that decodes what it writes (tests, debugging). The descriptor is
the subset of ``prometheus/prompb/remote.proto`` and ``types.proto`` that
remote_write 1.0 samples use, field numbers as upstream::

    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }

Built at call time into a private descriptor pool (no protoc, no generated
module, nothing registered globally on import).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from google.protobuf import (  # type: ignore[import-untyped]  # no stubs in the deps
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

_PACKAGE = "edgewatch.prompb"
_F = descriptor_pb2.FieldDescriptorProto


class Messages(NamedTuple):
    WriteRequest: Any
    TimeSeries: Any
    Label: Any
    Sample: Any


def _message(
    file: descriptor_pb2.FileDescriptorProto,
    name: str,
    fields: list[tuple[str, int, int, int, str | None]],
) -> None:
    msg = file.message_type.add(name=name)
    for field_name, number, ftype, label, type_name in fields:
        field = msg.field.add(name=field_name, number=number, type=ftype, label=label)
        if type_name is not None:
            field.type_name = f".{_PACKAGE}.{type_name}"


@functools.cache
def messages() -> Messages:
    """The four message classes (built once per process)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="edgewatch/prompb/remote.proto", package=_PACKAGE, syntax="proto3"
    )
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    _message(file, "Sample", [("value", 1, _F.TYPE_DOUBLE, opt, None),
                              ("timestamp", 2, _F.TYPE_INT64, opt, None)])  # fmt: skip
    _message(file, "Label", [("name", 1, _F.TYPE_STRING, opt, None),
                             ("value", 2, _F.TYPE_STRING, opt, None)])  # fmt: skip
    _message(file, "TimeSeries", [("labels", 1, _F.TYPE_MESSAGE, rep, "Label"),
                                  ("samples", 2, _F.TYPE_MESSAGE, rep, "Sample")])  # fmt: skip
    _message(file, "WriteRequest", [("timeseries", 1, _F.TYPE_MESSAGE, rep, "TimeSeries")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))

    return Messages(cls("WriteRequest"), cls("TimeSeries"), cls("Label"), cls("Sample"))


def decode(body: bytes) -> Any:
    """A WriteRequest from its uncompressed bytes."""
    request = messages().WriteRequest()
    request.ParseFromString(body)
    return request
