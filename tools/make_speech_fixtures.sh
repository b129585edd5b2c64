#!/usr/bin/env bash
# Synthesise the held-out speech fixtures of reference_tests/fixtures/ with espeak-ng (GPL-3 program; its output
# is ours). Needs: apt-get install -y espeak-ng sox. Output: 16 kHz mono int16 WAV, a few seconds each.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/reference_tests/fixtures"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
speak() {  # name voice text
    espeak-ng -v "$2" -s 150 -w "$tmp/$1.wav" "$3"
    sox "$tmp/$1.wav" -r 16000 -c 1 -b 16 "$out/$1.wav"
}
speak speech_espeak_male "en" "Good morning. Please listen carefully, this is a short announcement about the train."
speak speech_espeak_female "en+f3" "Hello there, my name is Anna, and I would like to tell you a story."
