#!/bin/sh
# lint.sh: project checks that clang-format does not do.
# 1. Banned calls: unbounded or non-reentrant libc functions.
set -eu
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|atof|strtok|rand|srand|alloca|tmpnam|mktemp)[[:space:]]*\('
if grep -rnE "$banned" --include='*.c' --include='*.h' include src tests bench; then
    echo "lint: banned call above (use snprintf, strtol/strtoull, prng, ...)" >&2
    exit 1
fi
