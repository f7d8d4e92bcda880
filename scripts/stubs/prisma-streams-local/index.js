// See package.json: the real package needs Node.js 22 (node:sqlite) and only `prisma dev`
// uses it; Quiver supports Node.js 20.19+ and runs its own embedded PGlite instead.
throw new Error("@prisma/streams-local is replaced in Quiver (root package.json overrides): `prisma dev` needs Node.js 22 and is not used by Quiver.");
