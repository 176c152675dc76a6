#!/usr/bin/env bash
# Installs kloros-observer: binaries, systemd units, sample config, the kloros
# user and its directories. Idempotent. DESTDIR installs into a staging root
# (no user is created then; what would be done is printed). PREFIX defaults
# to /usr/local.
set -euo pipefail
cd "$(dirname "$0")/.."
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr/local}"
KHOME="${KLOROS_HOME:-/home/kloros}"

if [ ! -x bin/kloros-observer ] || [ -n "${REBUILD:-}" ]; then
  echo "building binaries"
  go build -ldflags "${GO_LDFLAGS:-}" -o bin/ ./cmd/...
fi

install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/kloros" \
  "$DESTDIR$PREFIX/share/doc/kloros-observer"
for b in kloros-observer intentctl chembus; do
  if [ -x "bin/$b" ]; then install -m 0755 "bin/$b" "$DESTDIR$PREFIX/bin/$b"; else echo "warning: bin/$b missing, skipped" >&2; fi
done
for u in kloros-observer.service kloros-intent.path kloros-orchestrator.service; do
  sed "s#/usr/local/bin/#$PREFIX/bin/#g" "deploy/systemd/$u" > "$DESTDIR/etc/systemd/system/$u"
  chmod 0644 "$DESTDIR/etc/systemd/system/$u"
done
if [ -e "$DESTDIR/etc/kloros/observer.yaml" ]; then
  echo "keeping existing $DESTDIR/etc/kloros/observer.yaml"
else
  install -m 0640 deploy/kloros/observer.yaml "$DESTDIR/etc/kloros/observer.yaml"
fi
install -m 0644 README.md "$DESTDIR$PREFIX/share/doc/kloros-observer/README.md"

# Man pages and shell completions, generated from the built binaries' own
# commands (nothing generated is kept in the repository).
docs="$(mktemp -d)"
trap 'rm -rf "$docs"' EXIT
MAN1="$DESTDIR$PREFIX/share/man/man1"
BASHC="$DESTDIR$PREFIX/share/bash-completion/completions"
ZSHC="$DESTDIR$PREFIX/share/zsh/site-functions"
FISHC="$DESTDIR$PREFIX/share/fish/vendor_completions.d"
install -d -m 0755 "$MAN1" "$BASHC" "$ZSHC" "$FISHC"
for b in kloros-observer intentctl chembus; do
  [ -x "bin/$b" ] || continue
  "bin/$b" __gendocs "$docs/$b"
  install -m 0644 "$docs/$b"/man1/*.1 "$MAN1/"
  install -m 0644 "$docs/$b/bash/$b" "$BASHC/$b"
  install -m 0644 "$docs/$b/zsh/_$b" "$ZSHC/_$b"
  install -m 0644 "$docs/$b/fish/$b.fish" "$FISHC/$b.fish"
done

run() { if [ -n "$DESTDIR" ]; then echo "would run: $*"; else "$@"; fi; }
if [ -z "$DESTDIR" ] && id kloros >/dev/null 2>&1; then
  echo "user kloros exists"
else
  run useradd --system --create-home --home-dir "$KHOME" --shell /usr/sbin/nologin kloros
fi
if getent group systemd-journal >/dev/null 2>&1 || [ -n "$DESTDIR" ]; then
  run usermod -a -G systemd-journal kloros
fi
for d in "$KHOME/.kloros" "$KHOME/.kloros/intents" "$KHOME/.kloros/events" "$KHOME/.kloros/heartbeat" "$KHOME/.kloros/signals" "$KHOME/out"; do
  install -d -m 0700 "$DESTDIR$d"
done
run chown -R kloros:kloros "$KHOME/.kloros" "$KHOME/out"
[ -n "$DESTDIR" ] || chgrp kloros /etc/kloros/observer.yaml

cat <<MSG

kloros-observer installed. To start it now and at boot:
  systemctl daemon-reload
  systemctl enable --now kloros-observer.service kloros-intent.path
Follow its logs:
  journalctl -u kloros-observer -f
MSG
