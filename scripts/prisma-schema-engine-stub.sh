#!/bin/sh
# Stand-in for Prisma's native schema engine, which the Prisma CLI downloads at install and
# at every command (impossible offline). `prisma generate`, `validate` and `format` need only
# its path to exist. Migrations run through the WASM schema engine instead:
# apps/api/src/catalog/migrate.ts (`quiver db migrate`).
echo "quiver: the native Prisma schema engine is not installed; use 'npx quiver db migrate' (WASM) instead" >&2
exit 1
