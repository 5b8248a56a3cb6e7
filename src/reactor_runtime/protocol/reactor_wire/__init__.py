"""Generated protobuf modules for reactor_wire.v1 (scripts/gen_proto.sh). Do not edit."""
