// PostGraphile 4 over the benchmark database, one process, for `python -m bench`.
// node server.cjs PORT   with DATABASE_URL set; GET /healthz answers 200 once the schema is built.
// Production settings: no GraphiQL, no watch mode, no subscriptions or live queries, no explain, no query log;
// the schema is built once at start (awaited before listening).
const { createServer } = require("node:http");
const { Pool } = require("pg");
const { postgraphile } = require("postgraphile");

const port = Number(process.argv[2]);
// At most 10 connections, like the limit and the app's 5 + 5 per worker.
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const middleware = postgraphile(pool, "public", {
  graphqlRoute: "/graphql",
  graphiql: false,
  enhanceGraphiql: false,
  watchPg: false,
  subscriptions: false,
  live: false,
  allowExplain: false,
  disableQueryLog: true,
  enableQueryBatching: false,
  retryOnInitFail: false,
  setofFunctionsContainNulls: false,
  legacyRelations: "omit",
  dynamicJson: true,
  extendedErrors: [],
  showErrorStack: false,
});

middleware.getGraphQLSchema().then(() => {
  const server = createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("ok");
      return;
    }
    middleware(request, response);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1");
  const stop = () => {
    server.close();
    pool.end().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
});
