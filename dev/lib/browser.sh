#!/usr/bin/env bash
# Debian's Chromium, driven headless by the API reference page test (test/integration/api-docs.test.ts).
# Sourced after common.sh. The test uses /usr/bin/chromium and never downloads a browser of its own.
browser_install() { apt_install chromium; }
