#!/usr/bin/env bash
# Size report of the portable core (howdy_core) for the ESP32-P4's CPU.
#
# Compiles every .c of components/howdy_core/src/ and generated/ with Debian's
# bare-metal RISC-V GCC and picolibc, for rv32imafc/ilp32f at -Os, one object
# per source, and prints text/data/bss per module plus totals (Berkeley format
# of riscv64-unknown-elf-size: text = code + read-only data).
#
# Only picolibc's headers and the headers of libsodium and protobuf-c are on
# the include path, through a private directory of symlinks, so a host libc or
# POSIX header sneaking into the core fails here instead of on the device.
#
# After the table, the static RAM of the audio path: a generated translation
# unit holds one static howdy_audio_path_t (as the application does) and one
# howdy_voice_t, and their bss is read from its object. The audio path must
# stay within HOWDY_AUDIO_RAM_BUDGET_BYTES (64 KiB); the script fails if not.
#
# Exits non-zero if any file fails to compile (all files are still tried, and
# the failures are listed).
#
# Usage: firmware/tools/size_report.sh [--core DIR] [--keep DIR] [-v]
#   --core DIR  component to measure (default: components/howdy_core next to
#               this script's parent)
#   --keep DIR  leave the objects in DIR instead of a temporary directory
#   -v          show each compiler command
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
core_dir="${script_dir}/../components/howdy_core"
keep_dir=""
verbose=0

while (($# > 0)); do
  case "$1" in
    --core) core_dir="$2"; shift 2 ;;
    --keep) keep_dir="$2"; shift 2 ;;
    -v) verbose=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "size_report: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

CC="${RISCV_CC:-riscv64-unknown-elf-gcc}"
SIZE="${RISCV_SIZE:-riscv64-unknown-elf-size}"
for tool in "$CC" "$SIZE"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "size_report: $tool not found (Debian: gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf)" >&2
    exit 2
  fi
done

core_dir="$(cd "$core_dir" && pwd)"

# The ESP32-P4 HP cores are RV32IMAFC (plus Espressif extensions GCC does not
# know); use that multilib if this GCC ships it, else say what stands in.
march="rv32imafc"
mabi="ilp32f"
multilib_note="multilib ${march}/${mabi}: present"
if ! "$CC" -print-multi-lib | grep -q "^${march}/${mabi};"; then
  for alt in rv32imafc/ilp32f rv32imfc/ilp32f rv32imf/ilp32f rv32imac/ilp32 rv32im/ilp32; do
    if "$CC" -print-multi-lib | grep -q "^${alt};"; then
      multilib_note="multilib ${march}/${mabi} missing; using closest available ${alt}"
      march="${alt%/*}"
      mabi="${alt#*/}"
      break
    fi
  done
fi

if [[ -n "$keep_dir" ]]; then
  mkdir -p "$keep_dir"
  work="$(cd "$keep_dir" && pwd)"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi

# Private include directory: the two libraries the core may use, nothing else
# from the host.
inc="$work/include"
rm -rf "$inc"
mkdir -p "$inc" "$work/obj"
ln -s /usr/include/sodium.h "$inc/sodium.h"
ln -s /usr/include/sodium "$inc/sodium"
ln -s /usr/include/protobuf-c "$inc/protobuf-c"

cflags=(
  -march="$march" -mabi="$mabi" -Os
  -ffunction-sections -fdata-sections
  --specs=picolibc.specs
  -std=c11 -Wall -Wextra -Werror
  -I"$core_dir/include" -I"$core_dir/generated" -isystem "$inc"
)

shopt -s nullglob
sources=("$core_dir"/src/*.c "$core_dir"/generated/*.c)
shopt -u nullglob
if ((${#sources[@]} == 0)); then
  echo "size_report: no sources under $core_dir/src or $core_dir/generated" >&2
  exit 1
fi

failed=()
objects=()
for src in "${sources[@]}"; do
  rel="${src#"$core_dir"/}"
  obj="$work/obj/${rel//\//_}.o"
  ((verbose)) && echo "+ $CC ${cflags[*]} -c $rel" >&2
  if "$CC" "${cflags[@]}" -c "$src" -o "$obj" 2>"$work/err.txt"; then
    objects+=("$rel:$obj")
  else
    failed+=("$rel")
    echo "size_report: $rel does not compile:" >&2
    sed 's/^/  /' "$work/err.txt" >&2
  fi
done

echo "howdy_core size report: $("$CC" -dumpversion) ${CC}, -march=${march} -mabi=${mabi} -Os, picolibc"
echo "(${multilib_note}; object sizes before linking, so unused functions still count)"
echo
printf '%-36s %9s %9s %9s %9s\n' module text data bss total
printf '%-36s %9s %9s %9s %9s\n' "------" "----" "----" "---" "-----"
t_text=0 t_data=0 t_bss=0
for entry in "${objects[@]}"; do
  rel="${entry%%:*}"
  obj="${entry#*:}"
  # Berkeley format, second line: text data bss dec hex filename
  read -r text data bss _ < <("$SIZE" -B "$obj" | sed -n 2p)
  printf '%-36s %9d %9d %9d %9d\n' "$rel" "$text" "$data" "$bss" $((text + data + bss))
  t_text=$((t_text + text)); t_data=$((t_data + data)); t_bss=$((t_bss + bss))
done
for rel in "${failed[@]+"${failed[@]}"}"; do
  printf '%-36s %9s %9s %9s %9s\n' "$rel" FAILED - - -
done
printf '%-36s %9s %9s %9s %9s\n' "------" "----" "----" "---" "-----"
printf '%-36s %9d %9d %9d %9d\n' TOTAL "$t_text" "$t_data" "$t_bss" $((t_text + t_data + t_bss))

# Static RAM of the audio path, measured from an instance like the
# application's (the core itself has none: the instance belongs to the app).
bss_of() {
  local name="$1" type="$2" header="$3"
  cat >"$work/ram_${name}.c" <<EOF_TU
#include "howdy/${header}"
__attribute__((used)) static ${type} ${name};
EOF_TU
  if ! "$CC" "${cflags[@]}" -c "$work/ram_${name}.c" -o "$work/ram_${name}.o" 2>"$work/err.txt"; then
    echo "size_report: the ${type} instance does not compile:" >&2
    sed 's/^/  /' "$work/err.txt" >&2
    return 1
  fi
  "$SIZE" -B "$work/ram_${name}.o" | sed -n 2p | awk '{print $3}'
}
budget=65536
audio_bss="$(bss_of audio_path howdy_audio_path_t audio_path.h)" || failed+=("audio_path instance")
voice_bss="$(bss_of voice_session howdy_voice_t voice_session.h)" || failed+=("voice_session instance")
echo
if [[ -n "${audio_bss:-}" ]]; then
  printf 'audio path static RAM: howdy_audio_path_t %d B of %d B budget (%d.%d KiB)\n' \
    "$audio_bss" "$budget" $((audio_bss / 1024)) $(((audio_bss % 1024) * 10 / 1024))
fi
if [[ -n "${voice_bss:-}" ]]; then
  printf 'voice session static RAM: howdy_voice_t %d B\n' "$voice_bss"
fi

if ((${#failed[@]} > 0)); then
  echo "size_report: ${#failed[@]} file(s) failed to compile: ${failed[*]}" >&2
  exit 1
fi
if ((audio_bss > budget)); then
  echo "size_report: the audio path needs ${audio_bss} B of static RAM, over its ${budget} B budget" >&2
  exit 1
fi
