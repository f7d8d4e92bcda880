// The API's HTTP server: /healthz, /graphql over HTTP (Apollo) and WebSocket (graphql-ws),
// on one port. Bodies are size-limited; every error answers JSON with a code. GraphQL
// requests pass the same limits on both transports before anything runs (graphql/limits).
import http from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import express, { type ErrorRequestHandler, type Request } from "express";
import { ApolloServer } from "@apollo/server";
import { expressMiddleware } from "@as-integrations/express5";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { createContext, type Context } from "../graphql/context.js";
import { formatError, setRetryAfter, toGraphQLError } from "../graphql/format-error.js";
import { buildSchema } from "../graphql/schema.js";
import { checkOperation, graphqlLimitsFrom, limitRules, limitsPlugin } from "../graphql/limits/index.js";
import { passwordWork } from "../auth/password-work.js";
import { httpStatusOf, isQuiverError, QuiverError, type ErrorCode } from "../errors.js";
import { isDatabaseUnavailable } from "../catalog/database-health.js";
import type { Services } from "../services.js";
import { healthHandler } from "./health.js";
import { cors } from "./cors.js";
import { adapterUploadRoutes } from "../pool/upload-route.js";
import { defaultUploadLimits } from "../pool/limits.js";
import { openAIRoutes } from "../openai/routes.js";
import { databaseUnavailable } from "../catalog/database-health.js";
import { unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError } from "graphql";

export interface ApiServer {
  httpServer: http.Server;
  url: string;
  close(): Promise<void>;
}

function errorBody(code: ErrorCode, message: string) {
  return { errors: [{ message, extensions: { code } }] };
}

/** Body-parser and other middleware errors as coded JSON (OpenAI's error shape on its routes). */
const jsonErrors: ErrorRequestHandler = (err, req, res, next) => {
  if (/^\/v1\/(completions|chat\/completions|models)/.test(req.path)) {
    const e = err as { type?: string; limit?: number };
    const [status, code, message] =
      e.type === "entity.too.large"
        ? [413, "PAYLOAD_TOO_LARGE", `Request body too large: the limit is ${e.limit} bytes.`]
        : e.type === "entity.parse.failed"
          ? [400, "BAD_USER_INPUT", "Request body is not valid JSON."]
          : [500, "INTERNAL", "Internal server error"];
    if (status === 500) console.error("[api] unhandled error:", err);
    res.status(status).json({ error: { message, type: status === 500 ? "server_error" : "invalid_request_error", param: null, code } });
    return;
  }
  void next;
  const e = err as { type?: string; status?: number; limit?: number; message?: string };
  if (e.type === "entity.too.large") {
    res.status(413).json(errorBody("PAYLOAD_TOO_LARGE", `Request body too large: the limit is ${e.limit} bytes.`));
  } else if (e.type === "entity.parse.failed") {
    res.status(400).json(errorBody("BAD_USER_INPUT", "Request body is not valid JSON."));
  } else if (e.type === "charset.unsupported" || e.type === "encoding.unsupported") {
    res.status(415).json(errorBody("BAD_USER_INPUT", e.message ?? "Unsupported body encoding."));
  } else if (isQuiverError(err)) {
    setRetryAfter(res, err);
    res.status(httpStatusOf[err.code]).json(errorBody(err.code, err.message));
  } else if (isDatabaseUnavailable(err)) {
    const e = databaseUnavailable();
    setRetryAfter(res, e);
    res.status(503).json(errorBody(e.code, e.message));
  } else {
    console.error("[api] unhandled error:", err);
    res.status(500).json(errorBody("INTERNAL", "Internal server error"));
  }
};

function clientAddress(req: Request): string | undefined {
  return req.socket.remoteAddress;
}

/** Whether the request carries 'Authorization: Bearer <token>' (compared in constant time). */
export function hasBearer(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  // Digests first: equal lengths for timingSafeEqual, and no early exit on the length.
  const digest = (v: string) => createHash("sha256").update(v).digest();
  return timingSafeEqual(digest(m?.[1]?.trim() ?? ""), digest(token)) && m !== null;
}

export async function startApiServer(services: Services, options: { port: number; host: string }): Promise<ApiServer> {
  const app = express();
  app.disable("x-powered-by");
  const httpServer = http.createServer(app);
  const schema = buildSchema();
  const maxBody = services.config.QUIVER_MAX_BODY_BYTES;
  const limits = graphqlLimitsFrom(services.config);
  passwordWork.configure({ concurrency: services.config.QUIVER_PASSWORD_HASH_CONCURRENCY, maxQueue: services.config.QUIVER_PASSWORD_HASH_QUEUE });

  const wsServer = new WebSocketServer({ server: httpServer, path: "/graphql", maxPayload: maxBody });
  const wsCleanup = useServer<Record<string, unknown>, { clientAddress?: string }>(
    {
      schema,
      // Reject bad credentials at connect time (4403); each operation authenticates again, so
      // a session revoked while the socket is open stops working at its next operation.
      onConnect: async (ctx) => {
        try {
          if (services.database.down) throw databaseUnavailable();
          await createContext(services, { authorization: ctx.connectionParams?.authorization, team: undefined, clientAddress: undefined });
          return true;
        } catch (err) {
          // The database out of reach: 1013 "try again later", not 4403 "forbidden".
          if (isQuiverError(err) ? err.code === "DATABASE_UNAVAILABLE" : services.database.failed(err)) ctx.extra.socket.close(1013, "DATABASE_UNAVAILABLE");
          return false;
        }
      },
      // The limits, as over HTTP: tokens while parsing, the limit rules with graphql-js's
      // own, then cost and argument maxima with the variables; errors end the operation.
      onSubscribe: (_ctx, _id, payload) => {
        if (services.database.down) {
          const e = databaseUnavailable(services.health.problem("database"));
          return [new GraphQLError(e.message, { originalError: e })];
        }
        const checked = checkOperation(schema, limits, payload);
        if (checked.errors) return [...checked.errors];
        return { schema, document: checked.document, operationName: payload.operationName, variableValues: payload.variables };
      },
      context: async (ctx) =>
        createContext(services, {
          authorization: ctx.connectionParams?.authorization,
          team: ctx.connectionParams?.team,
          clientAddress: ctx.extra.request.socket.remoteAddress,
        }),
      // The same formatError as over HTTP: codes through, internals masked.
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON(), e)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors?.length ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e)) } : undefined,
    },
    wsServer,
  );

  const apollo = new ApolloServer<Context>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    // The limits (graphql/limits): the parser stops at maxTokens, the limit rules run with
    // graphql-js's, and the plugin checks cost and argument maxima before execution.
    parseOptions: { maxTokens: limits.maxTokens },
    validationRules: limitRules(limits),
    // Introspection follows QUIVER_GRAPHQL_INTROSPECTION through the limit rules (a coded
    // error on both transports), not Apollo's own switch.
    introspection: true,
    allowBatchedHttpRequests: false,
    // The process's own SIGTERM/SIGINT handler (quiver serve) runs the graceful shutdown.
    // Apollo's (on unless NODE_ENV is "test") would stop the server at once, closing every
    // WebSocket, then send the signal again: the second signal exits 1 at once, without the
    // grace period or the usage outbox.
    stopOnTerminationSignals: false,
    plugins: [
      limitsPlugin<Context>(limits),
      // A resolver that met the database out of reach tells the watch (new requests refused at once).
      {
        async requestDidStart() {
          return {
            async didEncounterErrors({ errors }) {
              for (const e of errors) {
                const original = unwrapResolverError(e);
                if (services.database.failed(original instanceof GraphQLError && original.originalError ? original.originalError : original)) break;
              }
            },
          };
        },
      },
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  app.get("/healthz", healthHandler(services));
  const metricsToken = services.config.QUIVER_METRICS_TOKEN;
  app.get("/metrics", (req, res) => {
    if (metricsToken !== undefined && !hasBearer(req.headers.authorization, metricsToken)) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="metrics"')
        .json(errorBody("UNAUTHENTICATED", "/metrics needs 'Authorization: Bearer <QUIVER_METRICS_TOKEN>'."));
      return;
    }
    res.type("text/plain; version=0.0.4").send(services.metrics.render());
  });
  // While the database is out of reach every request that needs it is refused at once:
  // 503 DATABASE_UNAVAILABLE with Retry-After (streams already running go on).
  const gateCors = cors(services.config.QUIVER_CORS_ORIGINS);
  app.use(["/graphql", "/v1"], (req, res, next) => {
    if (!services.database.down || req.method === "OPTIONS") return next();
    gateCors(req, res, () => {
      const e = databaseUnavailable(services.health.problem("database"));
      setRetryAfter(res, e);
      if (/^\/v1\/(completions|chat\/completions|models)/.test(req.originalUrl)) {
        res.status(503).json({ error: { message: e.message, type: "server_error", param: null, code: e.code } });
      } else {
        res.status(503).json({ errors: [{ message: e.message, extensions: { code: e.code, details: e.details } }] });
      }
    });
  });
  const uploads = adapterUploadRoutes(services, defaultUploadLimits(services.config.QUIVER_MAX_ADAPTER_BYTES));
  const uploadCors = cors(services.config.QUIVER_CORS_ORIGINS);
  app.options(["/v1/adapters", "/v1/adapters/:id/versions"], uploadCors);
  app.post("/v1/adapters", uploadCors, uploads.create);
  app.post("/v1/adapters/:id/versions", uploadCors, uploads.newVersion);
  const openai = openAIRoutes(services);
  const apiCors = cors(services.config.QUIVER_CORS_ORIGINS);
  app.options(["/v1/completions", "/v1/chat/completions", "/v1/models"], apiCors);
  app.get("/v1/models", apiCors, openai.models);
  app.post("/v1/completions", apiCors, express.json({ limit: maxBody }), openai.completions);
  app.post("/v1/chat/completions", apiCors, express.json({ limit: maxBody }), openai.chat);
  app.use(
    "/graphql",
    cors(services.config.QUIVER_CORS_ORIGINS),
    express.json({ limit: maxBody }),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        try {
          return await createContext(services, {
            authorization: req.headers.authorization,
            team: req.headers["x-quiver-team"],
            clientAddress: clientAddress(req),
          });
        } catch (err) {
          if (!isQuiverError(err) && services.database.failed(err)) throw toGraphQLError(databaseUnavailable());
          throw isQuiverError(err) ? toGraphQLError(err) : err;
        }
      },
    }),
  );
  app.use((_req, res) => {
    res
      .status(404)
      .json(
        errorBody(
          "NOT_FOUND",
          "No such route. The API serves /graphql, /healthz, /metrics, /v1/adapters and the OpenAI-style /v1/completions, /v1/chat/completions and /v1/models.",
        ),
      );
  });
  app.use(jsonErrors);

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new QuiverError("CONFIG_INVALID", `port ${options.port} is in use`, { hint: "Set PORT to a free port." }) : err),
    );
    httpServer.listen(options.port, options.host, resolve);
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    httpServer,
    url: `http://${host}:${address.port}`,
    close: () => apollo.stop(),
  };
}
