#!/bin/sh
# Fails if components/howdy_core/generated/ is not what gen_proto.sh produces
# from the current .proto (someone edited the .proto and forgot to regenerate,
# or edited a generated file by hand). Run by ctest as generated_proto_current.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/gen_proto.sh" "$tmp"
diff -ru "$here/../components/howdy_core/generated" "$tmp"
echo "generated protobuf sources are current"
