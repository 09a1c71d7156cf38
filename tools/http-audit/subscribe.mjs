// Subscribes with the npm `graphql-ws` client (the graphql-transport-ws protocol, as Apollo Client and
// urql use it) and prints each result as one JSON line on stdout; "ready" once the server acknowledged
// the connection, "complete" when the server ends the subscription, "error" with the errors it sent.
//
//   node subscribe.mjs <ws url> <token or ""> <query> <variables as JSON>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, query, variables] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
  on: { connected: () => console.log(JSON.stringify({ ready: true })) },
});
client.subscribe(
  { query, variables: JSON.parse(variables || "{}") },
  {
    next: (result) => console.log(JSON.stringify({ next: result })),
    error: (errors) => {
      console.log(JSON.stringify({ error: errors }));
      client.dispose();
    },
    complete: () => {
      console.log(JSON.stringify({ complete: true }));
      client.dispose();
    },
  },
);
