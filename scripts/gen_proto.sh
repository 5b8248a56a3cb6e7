#!/usr/bin/env bash
# Regenerate the committed protobuf modules of reactor_wire.v1 from their .proto sources.
#
# Dev-time only: needs `pip install grpcio-tools`; the runtime needs just `protobuf`.
# protoc emits imports rooted at the proto path (`from reactor_wire.v1 import ...`);
# they are rewritten to live inside reactor_runtime.protocol so no sys.path tricks are needed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/src/reactor_runtime/protocol"
proto_root="$pkg/proto"
out="$pkg/reactor_wire/v1"

rm -f "$out"/*_pb2.py "$out"/*_pb2.pyi
mkdir -p "$out"

python -m grpc_tools.protoc \
  -I "$proto_root" \
  --python_out="$pkg" \
  --pyi_out="$pkg" \
  "$proto_root"/reactor_wire/v1/*.proto

sed -i -E \
  -e 's/^from reactor_wire\.v1 import /from reactor_runtime.protocol.reactor_wire.v1 import /' \
  -e 's/^import reactor_wire\.v1\./import reactor_runtime.protocol.reactor_wire.v1./' \
  "$out"/*_pb2.py "$out"/*_pb2.pyi

header='"""Generated protobuf modules for reactor_wire.v1 (scripts/gen_proto.sh). Do not edit."""'
printf '%s\n' "$header" > "$pkg/reactor_wire/__init__.py"
printf '%s\n' "$header" > "$out/__init__.py"

echo "generated: $(cd "$out" && ls *_pb2.py | tr '\n' ' ')"
