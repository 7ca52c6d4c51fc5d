#!/usr/bin/env bash
# Smoke test of the self-contained build, run the way a workstation would: no virtual
# environment, an empty environment (env -i, PATH=/usr/bin:/bin), a fresh HOME, another
# working directory.  Each step prints PASS or FAIL; the exit status is the number of
# failures (0 = all passed).
#
#   installer/smoke_app.sh [APP]        (default dist/annotrace/annotrace)
#
# Environment: SMOKE_OUT=DIR keeps the outputs (screenshots, label maps) there (default: a
# temporary folder, printed at the end); SMOKE_DICOM_DIR=DIR names a folder of compressed
# DICOM test files (default: pydicom's own test files in the build venv, when present).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="$(realpath "${1:-$here/dist/annotrace/annotrace}")"
[ -x "$app" ] || { echo "smoke_app: no app at $app (run installer/build_app.sh)" >&2; exit 1; }
out="${SMOKE_OUT:-$(mktemp -d /tmp/annotrace-smoke-XXXXXX)}"
mkdir -p "$out/home" "$out/work"
out="$(realpath "$out")"
cp "$here/app/demo/ch2.nii.gz" "$out/work/ch2.nii.gz"   # a copy: not the app's own demo file
dicom_dir="${SMOKE_DICOM_DIR:-$(ls -d "$here"/build/app-venv/lib/python3*/site-packages/pydicom/data/test_files 2>/dev/null | head -1)}"

failures=0
# Run the app in an empty environment from $out/work; extra VAR=value words come first.
run_app() {
  (cd "$out/work" && env -i PATH=/usr/bin:/bin HOME="$out/home" LANG=C.UTF-8 "$@")
}
step() {  # step NAME COMMAND...: PASS when the command exits 0
  local name="$1"; shift
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    echo "PASS  $name ($((SECONDS - t0)) s)"
  else
    echo "FAIL  $name ($((SECONDS - t0)) s): $(tail -3 "$out/$name.log" | tr '\n' ' ')"
    failures=$((failures + 1))
  fi
}
png_ok() {  # a PNG file of more than 10 kB
  [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] \
    && [ "$(stat -c %s "$1")" -gt 10000 ]
}

t_version() { run_app "$app" --version | tee /dev/stderr | grep -q '^annotrace [0-9]'; }
t_info() { run_app "$app" info ch2.nii.gz --json | tee /dev/stderr | grep -q '"shape"'; }
t_info_broken() {  # a broken file: one line, exit code 2
  printf 'not an image' > "$out/work/broken.nii.gz"
  run_app "$app" info broken.nii.gz; [ $? -eq 2 ]
}
t_dicom() {  # compressed transfer syntaxes: pylibjpeg (JPEG, J2K), RLE, JPEG-LS plugins
  [ -n "$dicom_dir" ] || { echo "no DICOM test files; set SMOKE_DICOM_DIR"; return 1; }
  local f
  for f in JPEG2000.dcm MR_small_jp2klossless.dcm MR_small_jpeg_ls_lossless.dcm \
           MR_small_RLE.dcm JPGExtended.dcm; do
    cp "$dicom_dir/$f" "$out/work/$f"
    run_app "$app" info "$f" --json >/dev/null || { echo "$f: not decoded"; return 1; }
    echo "$f: ok"
  done
}
t_models() { run_app "$app" models list --json | tee /dev/stderr | grep -q '"deepbet"'; }
t_propose_unet() {
  run_app "$app" propose ch2.nii.gz --model brainmask-unet --out brain_unet.nii.gz --json \
    && [ -s "$out/work/brain_unet.nii.gz" ]
}
t_propose_deepbet() {
  run_app "$app" propose ch2.nii.gz --model deepbet --out brain_deepbet.nii.gz --json \
    && [ -s "$out/work/brain_deepbet.nii.gz" ]
}
t_propose_openvino() {
  run_app "$app" propose ch2.nii.gz --model brainmask-unet --backend openvino \
    --out brain_ov.nii.gz --json && [ -s "$out/work/brain_ov.nii.gz" ]
}
t_workspace() {  # cryptography, KDF, audit chain
  printf 'correct horse battery staple\n' > "$out/work/pw"
  run_app "$app" workspace init ws --admin admin --password-file pw \
    && run_app "$app" case import ws ch2.nii.gz --user admin --password-file pw \
    && run_app "$app" audit verify ws --user admin --password-file pw
}
t_rank_committee() {  # after t_workspace: both models in the frozen app, the quality store
  printf 'reviewer horse battery staple\n' > "$out/work/pw2"
  run_app "$app" user add ws lead --role reviewer --new-password-file pw2 --user admin \
      --password-file pw \
    && run_app "$app" rank ws --model brainmask-unet --method committee --with deepbet \
      --run-model --json --user lead --password-file pw2 | tee /dev/stderr \
    | grep -q '"members"'
}
t_view_offscreen() {
  run_app QT_QPA_PLATFORM=offscreen ANNOTRACE_SCREENSHOT="$out/view-offscreen.png" \
    "$app" view ch2.nii.gz && png_ok "$out/view-offscreen.png"
}
t_view_xvfb() {
  command -v xvfb-run >/dev/null || { echo "xvfb-run is not installed"; return 1; }
  # Fonts and the X libraries come from the system, Qt and its xcb plugin from the app.
  run_app ANNOTRACE_SCREENSHOT="$out/view-xvfb.png" \
    xvfb-run -a -s "-screen 0 1600x900x24" "$app" view ch2.nii.gz && png_ok "$out/view-xvfb.png"
}

echo "smoke_app: $app (outputs in $out)"
step version t_version
step info t_info
step info-broken-file t_info_broken
step dicom-compressed t_dicom
step models-list t_models
step propose-brainmask-unet t_propose_unet
step propose-deepbet t_propose_deepbet
step propose-openvino t_propose_openvino
step workspace-case-audit t_workspace
step rank-committee t_rank_committee
step view-offscreen t_view_offscreen
step view-xvfb t_view_xvfb
if [ "$failures" -eq 0 ]; then
  echo "smoke_app: all steps passed; screenshots $out/view-offscreen.png $out/view-xvfb.png"
else
  echo "smoke_app: $failures step(s) FAILED (logs in $out)"
fi
exit "$failures"
