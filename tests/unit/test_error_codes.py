"""The error codes have one source, the `ErrorCode` enum of chat.proto: the service's table and the Python
client's are read from it, and every code has its client class and its row in the README, and no more."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grpc
import pytest
from ainative.chat.v1 import chat_pb2 as pb

from service import errors as service_errors
from service.errors import CODE_FOR_GRPC_STATUS, ERRORS, GatewayError, wire_code

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))

from ainative_gateway import errors as client_errors  # noqa: E402
from ainative_gateway._proto.ainative.chat.v1 import chat_pb2 as client_pb  # noqa: E402

VALUES = [v for v in pb.ErrorCode.DESCRIPTOR.values if v.number != 0]
ENUM_CODES = [wire_code(v.name) for v in VALUES]


def test_the_enum_follows_the_contract_style() -> None:
    assert pb.ErrorCode.DESCRIPTOR.values[0].name == "ERROR_CODE_UNSPECIFIED"
    assert all(v.name.startswith("ERROR_CODE_") for v in VALUES)
    assert len(set(ENUM_CODES)) == len(ENUM_CODES)
    assert wire_code("ERROR_CODE_INVALID_REQUEST") == "invalid_request"
    assert "unsupported_parameter" in ENUM_CODES


@pytest.mark.parametrize("value", VALUES, ids=lambda v: v.name)
def test_every_value_carries_its_status_type_and_grpc_code(value: object) -> None:
    options = value.GetOptions()  # type: ignore[attr-defined]
    status = options.Extensions[pb.http_status]
    assert 400 <= status <= 599
    assert re.fullmatch(r"[a-z_]+", options.Extensions[pb.error_type])
    assert options.Extensions[pb.grpc_code] in grpc.StatusCode.__members__


def test_the_service_table_is_the_enum() -> None:
    assert list(ERRORS) == ENUM_CODES  # one ErrorKind per value, in the enum's order, and no other
    for value in VALUES:
        kind = ERRORS[wire_code(value.name)]
        options = value.GetOptions()
        assert (kind.http_status, kind.type, kind.grpc_code.name) == (
            options.Extensions[pb.http_status], options.Extensions[pb.error_type], options.Extensions[pb.grpc_code])
    assert set(CODE_FOR_GRPC_STATUS.values()) <= set(ERRORS)
    for code in ENUM_CODES:
        assert GatewayError(code, "x").kind is ERRORS[code]
    with pytest.raises(ValueError, match="unknown error code"):
        GatewayError("no_such_code", "x")


def test_a_value_without_options_is_refused() -> None:
    bare = pb.ErrorCode.DESCRIPTOR.values_by_name["ERROR_CODE_UNSPECIFIED"]
    with pytest.raises(RuntimeError, match="ERROR_CODE_UNSPECIFIED needs options"):
        service_errors._kind(bare)


def test_the_client_reads_the_same_table_from_its_vendored_stubs() -> None:
    assert [v.name for v in client_pb.ErrorCode.DESCRIPTOR.values] == [
        v.name for v in pb.ErrorCode.DESCRIPTOR.values]
    assert client_errors.CODES == {code: (k.http_status, k.type, k.grpc_code.name) for code, k in ERRORS.items()}


def _class_name(code: str) -> str:
    name = "".join(part.capitalize() for part in code.split("_"))
    return name if name.endswith("Error") else name + "Error"


@pytest.mark.parametrize("code", ENUM_CODES)
def test_every_code_has_its_client_class(code: str) -> None:
    cls = client_errors.error_class(code)
    assert cls is not client_errors.GatewayError, f"add a class for {code!r} to clients/python/.../errors.py"
    assert cls.__name__ == _class_name(code) and cls.__name__ in client_errors.__all__
    status = ERRORS[code].http_status
    assert (cls.__doc__ or "").startswith(f"{status} ``{code}``"), cls.__doc__
    err = client_errors.make_error(code, "m")
    assert (err.code, err.status, err.type) == (code, status, ERRORS[code].type)


def test_the_client_has_no_class_or_fallback_for_a_code_the_enum_lacks() -> None:
    assert set(client_errors._CLASSES) == set(ENUM_CODES)
    assert set(client_errors._CODE_FOR_HTTP_STATUS.values()) <= set(ENUM_CODES)
    assert set(client_errors._CODE_FOR_GRPC_STATUS.values()) <= set(ENUM_CODES)
    own = {"GatewayError", "GatewayConnectionError", "GatewayTimeoutError"}  # the client's own failures
    classes = {name for name in client_errors.__all__ if name.endswith("Error")} - own
    assert classes == {_class_name(code) for code in ENUM_CODES}


def test_the_readme_error_table_agrees() -> None:
    """The README's error table lists the enum's codes, each with its status, type and gRPC code."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Errors", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    rows = re.findall(r"^\|[^|]+\| (\d{3}) \| `(\w+)` / `(\w+)` \| ([^|]+) \|$", table, flags=re.MULTILINE)
    # every code has its row, but for the two the text after the table names (a wrong route or method)
    assert {row[2] for row in rows} | {"not_found", "method_not_allowed"} == set(ERRORS), table
    for status, type_, code, grpc_code in rows:
        kind = ERRORS[code]
        assert (int(status), type_) == (kind.http_status, kind.type), code
        assert grpc_code.strip() == "—" or grpc_code.startswith(kind.grpc_code.name), code
