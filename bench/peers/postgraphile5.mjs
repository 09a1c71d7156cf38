// PostGraphile 5 (Amber preset) over the benchmark database, one process, for `python -m bench`.
// node postgraphile5.mjs PORT   with DATABASE_URL set; GET /healthz answers 200 once the schema is built.
// Production settings: no GraphiQL, no watch mode, no websockets, no explain; the schema is built once at
// start, and grafserv caches each document's parse and validation.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const port = Number(process.argv[2]);
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      // At most 10 connections, like the limit and the app's 5 + 5 per worker.
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    graphqlPath: "/graphql",
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    watch: false,
    websockets: false,
    graphqlOverGET: false,
  },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
await pgl.getSchemaResult();
const handler = serv.createHandler();
const server = createServer((request, response) => {
  if (request.url === "/healthz") {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("ok");
    return;
  }
  handler(request, response);
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1");
const stop = () => {
  server.close();
  server.closeAllConnections();
  pgl.release().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
