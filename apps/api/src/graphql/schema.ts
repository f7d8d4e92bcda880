// The executable schema: SDL split by domain, resolvers beside it. `quiver schema print`
// writes it to the committed schema.graphql, and a test checks that file is current.
import { makeExecutableSchema } from "@graphql-tools/schema";
import { printSchema, type GraphQLSchema } from "graphql";
import { baseTypeDefs } from "./schema/base.js";
import { identityTypeDefs } from "./schema/identity.js";
import { adapterTypeDefs } from "./schema/adapters.js";
import { teamTypeDefs } from "./schema/teams.js";
import { usageTypeDefs } from "./schema/usage.js";
import { poolTypeDefs } from "./schema/pool.js";
import { poolMapTypeDefs } from "./schema/pool-map.js";
import { generationTypeDefs } from "./schema/generation.js";
import { serverSettingsTypeDefs } from "./schema/server-settings.js";
import { DateTime } from "./resolvers/scalars.js";
import { identityResolvers } from "./resolvers/identity.js";
import { adapterResolvers } from "./resolvers/adapters.js";
import { teamResolvers } from "./resolvers/teams.js";
import { usageResolvers } from "./resolvers/usage.js";
import { poolResolvers } from "./resolvers/pool.js";
import { poolMapResolvers } from "./resolvers/pool-map.js";
import { generationResolvers } from "./resolvers/generation.js";
import { serverSettingsResolvers } from "./resolvers/server-settings.js";
import { version } from "../version.js";

export const typeDefs = [
  baseTypeDefs,
  identityTypeDefs,
  adapterTypeDefs,
  teamTypeDefs,
  usageTypeDefs,
  poolTypeDefs,
  poolMapTypeDefs,
  generationTypeDefs,
  serverSettingsTypeDefs,
];

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs,
    resolvers: [
      { DateTime, Query: { version: () => version } },
      identityResolvers,
      adapterResolvers,
      teamResolvers,
      usageResolvers,
      poolResolvers,
      poolMapResolvers,
      generationResolvers,
      serverSettingsResolvers,
    ],
  });
}

export function printSdl(): string {
  return printSchema(buildSchema()) + "\n";
}
