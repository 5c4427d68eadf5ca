#!/usr/bin/env bash
# Prove the app on Debian 12 (bookworm, the base of Raspberry Pi OS) arm64, emulated on
# an x86 machine with qemu-user-static + binfmt_misc: a cached debootstrap root, a venv
# with requirements.txt from aarch64 wheels only, then inside it the app run headless on
# a video, detection dumps and a subset of the unit tests; on the host, the test that
# the arm64 detections equal the x86 ones. Exit 0 only if every check passed.
#
# Usage: sudo research/arm64_check.sh [--frames N] [--rebuild] [--shell]
#   --frames N   frames the app processes per model (default 30; emulation is slow)
#   --rebuild    delete the cached root (after unmounting) and build it again
#   --shell      only open a shell in the prepared root (mounts as for a check)
# Environment:
#   PI_VISION_ARM64_ROOT  cached root (default /var/cache/pi-vision/arm64-bookworm)
#   PI_VISION_ARM64_OUT   logs and dumps of the last run (default /var/cache/pi-vision/arm64-out)
#   PI_VISION_DATA        shared data folder (default ../shared/data beside the repo)
#   DEBIAN_MIRROR         debootstrap mirror (default: the first Debian archive in this machine's
#                         apt sources, else debootstrap's own default)
#   HOST_PYTHON           the x86 Python for the equality test (default .venv/bin/python)
#   PI_VISION_MODELS      the model folder, as for the app (default models/ in the repo)
#   PI_VISION_QEMU_CPU    the emulated CPU (default cortex-a72, a Pi 4; cortex-a76 is a Pi 5)
set -euo pipefail

usage="usage: sudo $0 [--frames N] [--rebuild] [--shell]"
die() { echo "arm64_check: $*" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${PI_VISION_ARM64_ROOT:-/var/cache/pi-vision/arm64-bookworm}
OUT=${PI_VISION_ARM64_OUT:-/var/cache/pi-vision/arm64-out}
DATA=${PI_VISION_DATA:-$(dirname "$REPO")/shared/data}
# The mirror this machine already uses (a local proxy or a national one is typically faster),
# from deb822 "URIs:" or one-line "deb URL" entries; security and update archives are skipped.
host_mirror() {
    cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        awk '$1 == "URIs:" {print $2} $1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' |
        grep -v -e security -e updates | head -n 1 || true
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror)}
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}
MODELS=${PI_VISION_MODELS:-$REPO/models}
FRAMES=30
REBUILD=0
SHELL_ONLY=0
SUITE=bookworm
VENV=/opt/pi-vision-venv          # inside the root
# Unit tests run inside the guest: the ones that exercise what differs on ARM (the
# runtime, OpenCV, numpy), without TensorFlow (a training dependency, not on the Pi)
# and without the subprocess-per-case ones (test_bad_input: ~30 s per Python start
# under emulation). Deselected: a CPU-share timing test that needs an unloaded core
# (it fails under nice on a busy host too).
GUEST_TESTS=(tests/test_detector.py tests/test_preprocess.py tests/test_anchors.py tests/test_capture.py
             tests/test_monitor.py tests/test_config.py tests/test_agreement.py tests/test_model_cost.py
             --deselect tests/test_monitor.py::test_process_cpu_over_the_run_and_since_the_last_sample)
# The CPU qemu emulates: a Pi 4's Cortex-A72, so libraries pick the kernels they pick
# on the Pi. qemu's default ("max") offers SVE/SME, on which XNNPACK's int8 kernels
# give wrong detections under qemu 7.2 (measured: all scores equal, boxes = anchors).
QEMU_CPU=${PI_VISION_QEMU_CPU:-cortex-a72}
# Everything CPU-heavy is niced: the machine is shared with long training runs.
NICE=(nice -n 19)

# ---------------------------------------------------------------- arguments and checks
INSIDE_NS=0
while (($#)); do
    case $1 in
        --frames) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--frames needs a positive integer; $usage"
                  FRAMES=$2; shift 2 ;;
        --rebuild) REBUILD=1; shift ;;
        --shell) SHELL_ONLY=1; shift ;;
        --inside-namespace) INSIDE_NS=1; shift ;;   # internal: the re-exec below
        -h|--help) echo "$usage"; exit 0 ;;
        *) die "unknown argument $1; $usage" ;;
    esac
done

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, mount and chroot need it); $usage"
missing=()
for tool in debootstrap qemu-aarch64-static update-binfmts unshare chroot mountpoint flock; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) || die "missing ${missing[*]}; install with: apt-get install -y debootstrap qemu-user-static binfmt-support util-linux"
[[ -d $DATA ]] || die "shared data folder $DATA not found; put it beside the repo or set PI_VISION_DATA"
[[ -f $DATA/videos/vtest.avi ]] || die "$DATA/videos/vtest.avi not found; the shared data folder is incomplete"
[[ -d $MODELS ]] || die "model folder $MODELS not found; set PI_VISION_MODELS to an existing folder"
MODELS=$(cd "$MODELS" && pwd)
[[ -x $HOST_PYTHON ]] || die "host Python $HOST_PYTHON not found; create the venv (see README) or set HOST_PYTHON"
case $ROOT in /|"") die "PI_VISION_ARM64_ROOT must be a dedicated directory" ;; esac

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "== $*"; }

# Every mount below $1, deepest first, as the kernel lists them.
mounts_under() {
    awk -v root="$1" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

# Unmount everything below $1 (a leftover from a killed run); refuse to go on if a
# mount survives, because deleting the root through a bind mount would delete the repo.
unmount_all() {
    local m
    for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m"; done
    [[ -z $(mounts_under "$1") ]] || die "could not unmount everything below $1; see /proc/mounts"
}

remove_root() {
    unmount_all "$1"
    # --one-file-system: never follow into anything still mounted.
    rm -rf --one-file-system "$1"
}

# ---------------------------------------------------------------- binfmt (host-wide)
# qemu-user-static registers qemu-aarch64 with the F flag (the interpreter is opened at
# registration), so nothing needs copying into the root. A container may lack the
# binfmt_misc mount; mount it.
ensure_binfmt() {
    local bm=/proc/sys/fs/binfmt_misc
    if ! mountpoint -q "$bm"; then
        mount -t binfmt_misc binfmt_misc "$bm" || die "cannot mount binfmt_misc at $bm (a container without CAP_SYS_ADMIN?)"
    fi
    if [[ ! -f $bm/qemu-aarch64 ]] || ! grep -q '^enabled' "$bm/qemu-aarch64"; then
        update-binfmts --enable qemu-aarch64 >/dev/null || die "update-binfmts --enable qemu-aarch64 failed"
    fi
    grep -q '^flags:.*F' "$bm/qemu-aarch64" || die "qemu-aarch64 is registered without the F flag; reinstall qemu-user-static"
}

# ---------------------------------------------------------------- the root (cached)
build_root() {
    local t0 partial=$ROOT.partial
    t0=$(now)
    say "debootstrap $SUITE arm64 (minbase) into $ROOT from ${MIRROR:-the default of debootstrap}"
    # Build beside the final place and rename at the end, so an interrupted build is
    # never mistaken for a cached one.
    [[ -e $partial ]] && remove_root "$partial"
    mkdir -p "$(dirname "$ROOT")"
    "${NICE[@]}" debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$SUITE" "$partial" ${MIRROR:+"$MIRROR"} > "$OUT/debootstrap.log" 2>&1 \
        || { tail -n 20 "$OUT/debootstrap.log" >&2; unmount_all "$partial"; die "debootstrap failed; full log in $OUT/debootstrap.log"; }
    unmount_all "$partial"   # debootstrap can leave /proc mounted on failure paths
    chroot "$partial" apt-get clean
    mkdir -p "$partial"/pi-vision/{repo,data,models,out}
    touch "$partial/.pi-vision-root-ok"
    mv "$partial" "$ROOT"
    say "root built in $(elapsed "$t0") s, $(du -sh --one-file-system "$ROOT" | cut -f1)"
}

# ---------------------------------------------------------------- guest mounts
# A Raspberry Pi 4's /proc/cpuinfo (Cortex-A72: implementer 0x41, part 0xd08), one
# entry per host core. ai-edge-litert's CPU detection segfaults under qemu-user when
# the guest sees the host's x86 cpuinfo.
pi4_cpuinfo() {
    local i n
    n=$(nproc)
    for ((i = 0; i < n; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Revision\t: d03114\nSerial\t\t: 100000000000cafe\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
}

MOUNTED=()
guest_mount() {  # guest_mount TARGET mount-args...
    local target=$1; shift
    mount "$@" "$target"
    MOUNTED+=("$target")
}

cleanup_mounts() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

mount_guest() {
    mkdir -p "$ROOT"/pi-vision/{repo,data,models,out}
    guest_mount "$ROOT/proc" -t proc proc
    # ai-edge-litert reads /sys/devices/system/cpu; read-only is enough.
    guest_mount "$ROOT/sys" -t sysfs -o ro sysfs
    guest_mount "$ROOT/dev" --bind /dev
    guest_mount "$ROOT/tmp" -t tmpfs -o size=1g tmpfs
    pi4_cpuinfo > "$OUT/cpuinfo"
    guest_mount "$ROOT/proc/cpuinfo" --bind "$OUT/cpuinfo"
    # The repo and the data read-only: the guest runs as root and must not write there.
    guest_mount "$ROOT/pi-vision/repo" --bind "$REPO"
    mount -o remount,bind,ro "$ROOT/pi-vision/repo"
    guest_mount "$ROOT/pi-vision/data" --bind "$DATA"
    mount -o remount,bind,ro "$ROOT/pi-vision/data"
    guest_mount "$ROOT/pi-vision/models" --bind "$MODELS"
    mount -o remount,bind,ro "$ROOT/pi-vision/models"
    guest_mount "$ROOT/pi-vision/out" --bind "$OUT"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"   # pip needs DNS
    # pip in the guest trusts what the host trusts: behind a TLS-inspecting proxy the
    # host's bundle holds the proxy's CA, and Debian's bundle in the root does not.
    cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$ROOT/pi-vision/host-ca.crt"
}

# Run a command in the guest with a clean environment (plus the host's proxy
# settings, if any), niced.
in_guest() {
    local proxy=() v
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n ${!v:-} ]] && proxy+=("$v=${!v}")
    done
    "${NICE[@]}" chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "${proxy[@]}" \
        PIP_CERT=/pi-vision/host-ca.crt PIP_DEFAULT_TIMEOUT=180 QEMU_CPU="$QEMU_CPU" \
        PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" PYTHONPATH=/pi-vision/repo PYTHONDONTWRITEBYTECODE=1 \
        PI_VISION_DATA=/pi-vision/data PI_VISION_MODELS=/pi-vision/models \
        "$@"
}

# ---------------------------------------------------------------- the venv (cached)
ensure_venv() {
    local t0 key
    # requirements.txt without "-e .": the app is used from the read-only repo mount
    # through PYTHONPATH (an editable install would write into the repo).
    grep -vE '^\s*-e\s' "$REPO/requirements.txt" > "$OUT/requirements-guest.txt"
    echo "pytest>=8" >> "$OUT/requirements-guest.txt"
    key=$(sha256sum < "$OUT/requirements-guest.txt" | cut -d' ' -f1)
    if [[ $(cat "$ROOT$VENV/.requirements.sha256" 2>/dev/null) == "$key" ]]; then
        say "venv cached ($VENV, requirements unchanged)"
        return
    fi
    t0=$(now)
    say "creating $VENV from aarch64 wheels only (--only-binary=:all:)"
    rm -rf "${ROOT:?}$VENV"
    in_guest python3 -m venv "$VENV"
    # --only-binary: a package without an aarch64 wheel must fail here, not compile
    # for an hour as it would on a Pi.
    in_guest pip install --quiet --no-cache-dir --disable-pip-version-check --only-binary=:all: \
        -r /pi-vision/out/requirements-guest.txt > "$OUT/pip.log" 2>&1 \
        || { tail -n 20 "$OUT/pip.log" >&2; echo "arm64_check: pip install in the arm64 venv failed (no aarch64 wheel?); log in $OUT/pip.log" >&2; exit 1; }
    echo "$key" > "$ROOT$VENV/.requirements.sha256"
    say "venv built in $(elapsed "$t0") s, $(du -sh "$ROOT$VENV" | cut -f1)"
}

# ---------------------------------------------------------------- the checks
FAILED=()
check() {  # check NAME command...: run, record a failure instead of stopping
    local name=$1 t0; shift
    t0=$(now)
    if "$@"; then say "PASS $name ($(elapsed "$t0") s)"; else say "FAIL $name ($(elapsed "$t0") s)"; FAILED+=("$name"); fi
}

app_run() {  # app_run LABEL MODEL_IN_GUEST
    local label=$1 model=$2 log=$OUT/app-$1.jsonl summary
    in_guest python -m pi_vision --model "$model" --source /pi-vision/data/videos/vtest.avi \
        --max-frames "$FRAMES" --log-format json --log-interval 60 > "$log" 2> "$OUT/app-$label.stderr" || {
        tail -n 5 "$OUT/app-$label.stderr" >&2; return 1; }
    summary=$(grep '"event": *"summary"' "$log" | tail -n 1)
    echo "arm64 summary ($label): $summary"
    echo "   (fps and ms are qemu emulation figures, not Raspberry Pi figures)"
    # The point of the check: XNNPACK must be applied on ARM, and every frame processed.
    python3 - "$summary" "$FRAMES" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
problems = []
if s.get("xnnpack") is not True:
    problems.append(f"xnnpack is {s.get('xnnpack')!r}")
if s.get("runtime") != "ai_edge_litert":
    problems.append(f"runtime is {s.get('runtime')!r}")
frames = s.get("frames", s.get("processed"))
if frames is not None and int(frames) != int(sys.argv[2]):
    problems.append(f"processed {frames} frames, expected {sys.argv[2]}")
if problems:
    sys.exit("  " + "; ".join(problems))
EOF
}

run_checks() {
    local m models=()
    say "guest: $(in_guest python -c 'import platform,sys,numpy,cv2,ai_edge_litert.interpreter as i; print(platform.machine(), "Python", sys.version.split()[0], "numpy", numpy.__version__, "opencv", cv2.__version__)')"
    in_guest pip freeze --disable-pip-version-check > "$OUT/pip-freeze-arm64.txt"

    # The default model and the reference; a missing default model is said, not hidden.
    if [[ -f $MODELS/ssd_mbv1_0.5_160.tflite ]]; then
        check "app default model (ssd_mbv1_0.5_160)" app_run default ssd_mbv1_0.5_160
    else
        say "SKIP app default model: $MODELS/ssd_mbv1_0.5_160.tflite does not exist yet (only the reference runs)"
    fi
    check "app reference model" app_run reference /pi-vision/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite

    # Detections on fixed frames for the equality test: the reference and every model
    # in models/ (an int8 and a float one once the zoo lands).
    models=(--model /pi-vision/data/reference/coco_ssd_mobilenet_v1_1.0_quant.tflite)
    for m in "$MODELS"/*.tflite; do
        [[ -e $m ]] && models+=(--model "/pi-vision/models/$(basename "$m")")
    done
    mkdir -p "$OUT/dumps-arm64"
    # --save-frames/--save-inputs: the video frames decoded here, on arm64, and every
    # resized model input are kept as PNG; the host runs its networks on exactly those
    # pixels, and compares its own decode and resize separately.
    check "arm64 detection dumps" in_guest python -m research.dump_detections \
        --out /pi-vision/out/dumps-arm64 --save-frames /pi-vision/out/dumps-arm64/frames \
        --save-inputs /pi-vision/out/dumps-arm64/inputs "${models[@]}"

    check "unit tests in the arm64 guest" in_guest sh -c \
        "cd /pi-vision/repo && python -m pytest -q -p no:cacheprovider -rs ${GUEST_TESTS[*]} tests/test_arm64*.py"

    # The host side: the same frames through the x86 runtime, compared with the dumps.
    check "arm64 == x86 detections" env PI_VISION_ARM64_DUMPS="$OUT/dumps-arm64" PI_VISION_DATA="$DATA" \
        PI_VISION_MODELS="$MODELS" "${NICE[@]}" "$HOST_PYTHON" -m pytest -q -s -p no:cacheprovider -rs \
        --rootdir "$REPO" "$REPO/tests/test_arm64_equality.py"
}

# ---------------------------------------------------------------- main
if ((INSIDE_NS == 0)); then
    # Host-wide steps here, then the rest re-executed in a private mount namespace:
    # whatever happens (even kill -9), every mount made for the guest - debootstrap's
    # /proc included - dies with the namespace and never shows up on the host. The trap
    # in there unmounts them in the normal case too.
    T0=$(now)
    export ARM64_CHECK_T0=$T0   # for the "ready after" line of the inner run
    mkdir -p "$OUT"
    # One run at a time: two would share the root, the venv and the output folder.
    exec 9> "$OUT/.lock"
    flock -n 9 || die "another arm64_check.sh is running (lock $OUT/.lock)"
    ensure_binfmt
    if ((REBUILD)) && [[ -e $ROOT ]]; then
        say "--rebuild: removing $ROOT"
        remove_root "$ROOT"
    fi
    args=(--frames "$FRAMES")
    ((SHELL_ONLY)) && args+=(--shell)
    set +e
    unshare --mount --propagation private -- "$BASH" "${BASH_SOURCE[0]}" --inside-namespace "${args[@]}"
    rc=$?
    set -e
    unmount_all "$ROOT"   # nothing can be there; make sure
    say "root $(du -sh --one-file-system "$ROOT" 2>/dev/null | cut -f1) (of which venv $(du -sh "$ROOT$VENV" 2>/dev/null | cut -f1)); output in $OUT"
    say "total wall time $(elapsed "$T0") s"
    exit "$rc"
fi

trap cleanup_mounts EXIT
trap 'exit 130' INT TERM
[[ -f $ROOT/.pi-vision-root-ok ]] || build_root
mount_guest
in_guest /bin/true || die "cannot execute arm64 binaries in $ROOT; check binfmt_misc and qemu-user-static"
ensure_venv
say "root and venv ready after $(elapsed "${ARM64_CHECK_T0:-$EPOCHREALTIME}") s"
if ((SHELL_ONLY)); then
    in_guest bash || true
    exit 0
fi
# Clear only the previous check's outputs (debootstrap.log and pip.log stay with the
# root and venv they describe).
rm -rf "${OUT:?}"/dumps-arm64 "$OUT"/app-* "$OUT"/pip-freeze-arm64.txt
run_checks
if ((${#FAILED[@]})); then
    say "FAILED: ${FAILED[*]}"
    exit 1
fi
say "all arm64 checks passed"
