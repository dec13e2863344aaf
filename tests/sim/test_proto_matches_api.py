"""Our proto/howdy_api.proto against the client's own descriptors.

The device declares only its profile's messages, in its own .proto file. This
test compiles that file to a descriptor set (protoc-c) and checks every
message's type id (from the `// id=N` comments, the same ones gen_proto.sh
turns into C), field numbers, types and labels against aioesphomeapi's
api_pb2, so a typo can never put a field on the wire under the wrong number.
"""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess

from aioesphomeapi import api_pb2
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from google.protobuf import descriptor_pb2
import pytest

PROTO_DIR = Path(__file__).resolve().parents[2] / "firmware/components/howdy_core/proto"
PROTO = PROTO_DIR / "howdy_api.proto"
ID_LINE = re.compile(
    r"^message (\w+) *\{ *// *id=(\d+) +dir=(in|out|both)", re.MULTILINE
)


@pytest.fixture(scope="module")
def ours(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, descriptor_pb2.DescriptorProto]:
    protoc = shutil.which("protoc-c")
    if protoc is None:
        pytest.skip("protoc-c not installed")
    out = tmp_path_factory.mktemp("desc") / "howdy.pb"
    subprocess.run(
        [
            protoc,
            f"--proto_path={PROTO_DIR}",
            f"--descriptor_set_out={out}",
            PROTO.name,
        ],
        check=True,
        cwd=PROTO_DIR,
    )
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (file,) = fds.file
    return {m.name: m for m in file.message_type}


# Messages the API renamed over time: our name -> the names the client used.
RENAMED = {
    "ConnectRequest": {"AuthenticationRequest"},
    "ConnectResponse": {"AuthenticationResponse"},
}


def _our_ids() -> dict[str, int]:
    return {name: int(num) for name, num, _dir in ID_LINE.findall(PROTO.read_text())}


def _is_repeated(field: object) -> bool:
    """Repeatedness of a python-protobuf field descriptor (label went away in 7.x)."""
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return field.label == field.LABEL_REPEATED  # type: ignore[attr-defined]


def _theirs(name: str) -> object:
    """The client's descriptor for our message: by type id, else by name."""
    msg_id = _our_ids().get(name)
    if msg_id is not None:
        return MESSAGE_TYPE_TO_PROTO[msg_id].DESCRIPTOR
    return api_pb2.DESCRIPTOR.message_types_by_name[name]


def test_message_ids_match_the_client() -> None:
    ids = _our_ids()
    assert ids, "no // id= comments found"
    for name, num in ids.items():
        cls = MESSAGE_TYPE_TO_PROTO.get(num)
        assert cls is not None, name
        assert cls.__name__ in {name} | RENAMED.get(name, set()), name


def test_fields_match_the_client(
    ours: dict[str, descriptor_pb2.DescriptorProto],
) -> None:
    for name, msg in ours.items():
        theirs = _theirs(name)
        their_fields = {f.name: f for f in theirs.fields}
        their_numbers = {f.number for f in theirs.fields}
        for field in msg.field:
            # Later API versions rename deprecated fields to legacy_<name>.
            other = their_fields.get(field.name) or their_fields.get(
                f"legacy_{field.name}"
            )
            if other is None:
                # Newer API versions retire deprecated fields (legacy_*); a
                # retired number must not have been given to another field.
                assert field.number not in their_numbers, f"{name}.{field.name}"
                continue
            assert field.number == other.number, f"{name}.{field.name}"
            assert field.type == other.type, f"{name}.{field.name}"
            repeated = field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
            assert repeated == _is_repeated(other), f"{name}.{field.name}"
            if field.type_name:
                expected = other.message_type or other.enum_type
                assert field.type_name.rsplit(".", 1)[-1] == expected.name


def test_enums_match_the_client() -> None:
    text = PROTO.read_text()
    for enum_name, body in re.findall(
        r"^enum (\w+) \{(.*?)^\}", text, re.MULTILINE | re.DOTALL
    ):
        theirs = api_pb2.DESCRIPTOR.enum_types_by_name[enum_name]
        their_values = {v.name: v.number for v in theirs.values}
        for value_name, number in re.findall(r"(\w+) = (\d+);", body):
            if value_name in their_values:
                assert their_values[value_name] == int(number), (
                    f"{enum_name}.{value_name}"
                )
            else:  # retired in a newer API: the number must not mean something else
                assert int(number) not in their_values.values(), (
                    f"{enum_name}.{value_name}"
                )
