#!/usr/bin/env bash
# Build the llama.cpp reference binaries (llama-server, llama-bench) from the llama.cpp source
# that node-llama-cpp ships as a git bundle. No network access is needed.
#
# Usage: scripts/build-llama-cpp.sh [--only TARGET[,TARGET...]] [OUT_DIR]     (default: .cache/llama.cpp)
#
# Result: OUT_DIR/bin/llama-server and OUT_DIR/bin/llama-bench (statically linked against
# libllama/ggml). Each target is skipped when its binary exists and OUT_DIR/bin/.stamp-TARGET records the
# bundle's HEAD commit, the CPU variant and the patch level below; only the stale targets are built.
# A full build takes ~8 min on 2 idle cores; llama-server alone took 13 min on 2 busy ones.
# Options:
#   --only LIST       build only these targets (comma-separated: llama-server, llama-bench); same as TARGETS=LIST
# Environment:
#   TARGETS           comma-separated targets to build (default: llama-server,llama-bench)
#   LLAMA_CPP_BUNDLE  path of the git bundle (default: node_modules/node-llama-cpp/llama/gitRelease.bundle)
#   JOBS              parallel compile jobs (default: nproc)
#   LLAMA_CPU         auto (default) | native | a ggml CPU variant name (haswell, skylakex, icelake, ...)
#   FORCE=1           rebuild even when the stamp matches
#
# CPU flags: node-llama-cpp's prebuilt binary ships every ggml CPU variant and loads the best one the CPU
# supports. LLAMA_CPU=auto picks that same variant (same feature table and score as ggml's
# GGML_CPU_ALL_VARIANTS), so the reference runs the same kernels as the embedded engine. LLAMA_CPU=native
# uses -march=native instead. Variants with AMX are only picked when a probe program can execute an AMX
# instruction (the kernel must grant the tile state).
#
# GCC 12's _tile_loadconfig() (amxtileintrin.h) tells the compiler it reads only 8 bytes of the 64-byte
# tile config, so GCC drops the stores that fill it in ggml's ggml_tile_config_init(): AMX matmuls then die with
# SIGILL/SIGSEGV (llama-bench and llama-server crash on the first prompt batch of any Q8_0 model). The
# script adds a compiler barrier there (src/ggml/src/ggml-cpu/amx/mmq.cpp; node-llama-cpp's prebuilt
# binaries are not affected).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_ARG="${TARGETS:-llama-server,llama-bench}"
POSITIONAL=()
while (($#)); do
  case "$1" in
    --only)
      [[ $# -ge 2 ]] || { echo "[build-llama-cpp] error: --only needs a target list" >&2; exit 1; }
      TARGET_ARG="$2"
      shift 2
      ;;
    --only=*)
      TARGET_ARG="${1#--only=}"
      shift
      ;;
    *)
      POSITIONAL+=("$1")
      shift
      ;;
  esac
done
OUT_DIR="${POSITIONAL[0]:-$ROOT/.cache/llama.cpp}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
BUNDLE="${LLAMA_CPP_BUNDLE:-$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { printf '[build-llama-cpp %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  printf '[build-llama-cpp] error: %s\n' "$*" >&2
  exit 1
}

# --- prerequisites -------------------------------------------------------------------------------
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=(gcc)
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then
  GENERATOR=(-G Ninja)
elif ! command -v make >/dev/null 2>&1; then
  missing+=(make)
fi
if ((${#missing[@]})); then
  die "missing tools: ${missing[*]} (Debian/Ubuntu: apt-get install -y ${missing[*]})"
fi
[[ -f "$BUNDLE" ]] || die "git bundle not found: $BUNDLE (run npm install first, or set LLAMA_CPP_BUNDLE)"

COMMIT="$(git bundle list-heads "$BUNDLE" | awk '$2 == "HEAD" { print $1; exit }')"
[[ -n "$COMMIT" ]] || COMMIT="$(git bundle list-heads "$BUNDLE" | awk 'NR == 1 { print $1 }')"
[[ -n "$COMMIT" ]] || die "cannot read the HEAD commit of $BUNDLE"

# --- CPU variant ---------------------------------------------------------------------------------
# name and features, as in ggml/src/CMakeLists.txt (x86 GGML_CPU_ALL_VARIANTS)
VARIANTS=(
  "x64:"
  "sse42:SSE42"
  "sandybridge:SSE42 AVX"
  "ivybridge:SSE42 AVX F16C"
  "piledriver:SSE42 AVX F16C FMA"
  "haswell:SSE42 AVX F16C FMA AVX2 BMI2"
  "skylakex:SSE42 AVX F16C FMA AVX2 BMI2 AVX512"
  "cannonlake:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI"
  "cascadelake:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VNNI"
  "icelake:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI"
  "cooperlake:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VNNI AVX512_BF16"
  "zen4:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16"
  "alderlake:SSE42 AVX F16C FMA AVX2 BMI2 AVX_VNNI"
  "sapphirerapids:SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8"
)
ALL_FEATURES=(SSE42 AVX F16C FMA AVX2 BMI2 AVX_VNNI AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8 AMX_BF16)
declare -A CPUINFO_FLAG=([SSE42]=sse4_2 [AVX]=avx [F16C]=f16c [FMA]=fma [AVX2]=avx2 [BMI2]=bmi2
  [AVX_VNNI]=avx_vnni [AVX512]=avx512f [AVX512_VBMI]=avx512vbmi [AVX512_VNNI]=avx512_vnni
  [AVX512_BF16]=avx512_bf16 [AMX_TILE]=amx_tile [AMX_INT8]=amx_int8 [AMX_BF16]=amx_bf16)
# the bit each feature adds to ggml_backend_cpu_x86_score()
declare -A SCORE_BIT=([FMA]=0 [F16C]=1 [SSE42]=2 [BMI2]=3 [AVX]=4 [AVX2]=5 [AVX_VNNI]=6 [AVX512]=7
  [AVX512_VBMI]=8 [AVX512_BF16]=9 [AVX512_VNNI]=10 [AMX_INT8]=11 [AMX_TILE]=-1)
CPU_FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
variant_features() {
  local v
  for v in "${VARIANTS[@]}"; do [[ "${v%%:*}" == "$1" ]] && { echo "${v#*:}"; return 0; }; done
  return 1
}
# AMX needs the kernel's permission (arch_prctl) and a hypervisor that enables the tile state.
amx_usable() {
  [[ "$CPU_FLAGS" == *" amx_tile "* ]] || return 1
  local probe="$OUT_DIR/amx-probe"
  cat >"$probe.c" <<'EOF'
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  unsigned char cfg[64];
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return 2;
  memset(cfg, 0, sizeof cfg);
  cfg[0] = 1;   /* palette 1 */
  cfg[16] = 64; /* tile 0: 64 bytes per row */
  cfg[48] = 16; /* tile 0: 16 rows */
  __asm__ __volatile__("" : : "m"(cfg) : "memory"); /* see the GCC note above */
  _tile_loadconfig(cfg);
  _tile_zero(0);
  _tile_release();
  return 0;
}
EOF
  "${CC:-cc}" -O1 -mamx-tile "$probe.c" -o "$probe" >/dev/null 2>&1 || return 1
  ("$probe" >/dev/null 2>&1) 2>/dev/null
}
AMX_OK=0
[[ "${LLAMA_CPU:-auto}" == auto ]] && amx_usable && AMX_OK=1
pick_variant() {
  local best="" best_score=-1 v name feats f score ok
  for v in "${VARIANTS[@]}"; do
    name="${v%%:*}"; feats="${v#*:}"; score=1; ok=1
    [[ "$feats" == *AMX* ]] && ((!AMX_OK)) && continue
    for f in $feats; do
      [[ "$CPU_FLAGS" == *" ${CPUINFO_FLAG[$f]} "* ]] || { ok=0; break; }
      ((SCORE_BIT[$f] >= 0)) && score=$((score + (1 << SCORE_BIT[$f])))
    done
    ((ok && score > best_score)) && { best="$name"; best_score=$score; }
  done
  echo "$best"
}
CPU_MODE="${LLAMA_CPU:-auto}"
CPU_ARGS=()
if [[ "$CPU_MODE" == native ]]; then
  CPU_ARGS=(-DGGML_NATIVE=ON)
  CPU_DESC="native"
else
  if [[ "$CPU_MODE" == auto ]]; then
    CPU_MODE="$(pick_variant)"
    [[ "$CPU_FLAGS" == *" amx_tile "* ]] && ((!AMX_OK)) && log "the CPU lists AMX but AMX instructions fail here: not using AMX"
  fi
  FEATURES="$(variant_features "$CPU_MODE")" || die "unknown LLAMA_CPU variant: $CPU_MODE"
  CPU_ARGS=(-DGGML_NATIVE=OFF)
  for f in "${ALL_FEATURES[@]}"; do
    if [[ " $FEATURES " == *" $f "* ]]; then CPU_ARGS+=("-DGGML_$f=ON"); else CPU_ARGS+=("-DGGML_$f=OFF"); fi
  done
  CPU_DESC="$CPU_MODE (${FEATURES:-no SIMD extensions})"
fi
PATCH_ID="amx-ldtilecfg-1"
STAMP_TEXT="$COMMIT cpu=${CPU_DESC%% *} patch=$PATCH_ID"

BIN_DIR="$OUT_DIR/bin"
IFS=',' read -r -a REQUESTED <<<"$TARGET_ARG"
for t in "${REQUESTED[@]}"; do
  [[ "$t" == llama-server || "$t" == llama-bench ]] || die "unknown target: $t (known: llama-server, llama-bench)"
done
((${#REQUESTED[@]})) || die "no targets to build"
TARGET_LIST="$(IFS=,; echo "${REQUESTED[*]}")"

# One stamp per target, so building a subset never vouches for a binary it did not rebuild.
up_to_date() {
  [[ -x "$BIN_DIR/$1" ]] && [[ -f "$BIN_DIR/.stamp-$1" ]] && [[ "$(cat "$BIN_DIR/.stamp-$1")" == "$STAMP_TEXT" ]]
}
TARGETS=()
for t in "${REQUESTED[@]}"; do
  if [[ "${FORCE:-0}" == 1 ]] || ! up_to_date "$t"; then TARGETS+=("$t"); fi
done
if ((${#TARGETS[@]} == 0)); then
  log "up to date: $BIN_DIR/{$TARGET_LIST} built from llama.cpp $COMMIT, CPU $CPU_DESC"
  exit 0
fi

# --- source --------------------------------------------------------------------------------------
REPO="$OUT_DIR/repo.git"
SRC="$OUT_DIR/src"
BUILD="$OUT_DIR/build"
if [[ -f "$SRC/.edgefleet-commit" ]] && [[ "$(cat "$SRC/.edgefleet-commit")" == "$COMMIT" ]]; then
  log "source already extracted ($COMMIT)"
else
  log "extracting llama.cpp $COMMIT from $BUNDLE"
  [[ -d "$REPO" ]] || git init --quiet --bare "$REPO"
  git -C "$REPO" fetch --quiet --no-tags "$BUNDLE" HEAD
  rm -rf "$SRC" "$BUILD"
  mkdir -p "$SRC"
  git -C "$REPO" archive --format=tar FETCH_HEAD | tar -x -C "$SRC"
  echo "$COMMIT" >"$SRC/.edgefleet-commit"
fi

# GCC's _tile_loadconfig() declares an 8-byte memory operand; make the whole config visible to it.
MMQ="$SRC/ggml/src/ggml-cpu/amx/mmq.cpp"
if [[ -f "$MMQ" ]] && ! grep -q "edgefleet: $PATCH_ID" "$MMQ"; then
  if grep -q '^    _tile_loadconfig(&tc);$' "$MMQ"; then
    sed -i 's|^    _tile_loadconfig(&tc);$|    __asm__ __volatile__("" : : "m"(tc) : "memory"); // edgefleet: '"$PATCH_ID"'\n    _tile_loadconfig(\&tc);|' "$MMQ"
    log "patched $MMQ (GCC _tile_loadconfig operand size)"
  else
    log "warning: ggml_tile_config_init() not found in $MMQ; AMX builds with GCC may crash"
  fi
fi

# --- build ---------------------------------------------------------------------------------------
START=$(date +%s)
log "configuring (cmake ${GENERATOR[*]:-Unix Makefiles})"
cmake -S "$SRC" -B "$BUILD" "${GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DBUILD_SHARED_LIBS=OFF \
  "${CPU_ARGS[@]}" >"$OUT_DIR/cmake-configure.log" 2>&1 ||
  {
    tail -n 40 "$OUT_DIR/cmake-configure.log" >&2
    die "cmake configure failed (full log: $OUT_DIR/cmake-configure.log)"
  }
log "CPU: $CPU_DESC"
log "building ${TARGETS[*]} with $JOBS jobs (a few minutes on 2 cores)"
# Progress lines ("[ 42%] ..." or "[12/180] ...") pass through.
cmake --build "$BUILD" --config Release --target "${TARGETS[@]}" -j "$JOBS"

mkdir -p "$BIN_DIR"
for t in "${TARGETS[@]}"; do
  f="$BUILD/bin/$t"
  [[ -x "$f" ]] || die "build finished but $f is missing"
  rm -f "$BIN_DIR/.stamp-$t"
  cp -f "$f" "$BIN_DIR/$t.tmp"
  mv -f "$BIN_DIR/$t.tmp" "$BIN_DIR/$t"
  echo "$STAMP_TEXT" >"$BIN_DIR/.stamp-$t"
done
BUILT_LIST="$(IFS=,; echo "${TARGETS[*]}")"
log "done in $(($(date +%s) - START)) s: $BIN_DIR/{$BUILT_LIST} (llama.cpp $COMMIT, CPU $CPU_DESC)"
