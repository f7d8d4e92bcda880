// The long-lived parts the API's handlers share, built once at start.
import type { Config } from "./config.js";
import type { Catalog } from "./catalog/database.js";
import { IdentityStore } from "./catalog/identity.js";
import { AdapterStore } from "./catalog/adapters.js";
import { TeamStore } from "./catalog/teams.js";
import { UsageStore } from "./catalog/usage.js";
import { RateLimiter } from "./auth/rate-limit.js";

export interface Services {
  config: Config;
  catalog: Catalog;
  identity: IdentityStore;
  adapters: AdapterStore;
  teams: TeamStore;
  usage: UsageStore;
  /** Login attempts per client address and email: 10 a minute. */
  loginLimiter: RateLimiter;
}

export function createServices(config: Config, catalog: Catalog): Services {
  return {
    config,
    catalog,
    identity: new IdentityStore(catalog.prisma),
    adapters: new AdapterStore(catalog.prisma),
    teams: new TeamStore(catalog.prisma),
    usage: new UsageStore(catalog.prisma),
    loginLimiter: new RateLimiter(10, 60_000),
  };
}
