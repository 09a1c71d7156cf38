// First-party bootstrap for the self-hosted GraphiQL page served at /graphql.
//
// Kept out of the HTML so the page can be served with a strict
// Content-Security-Policy (scripts only from 'self', no inline script).
// The page passes its settings through data-* attributes on #graphiql;
// React, ReactDOM and GraphiQL are the UMD globals loaded just before this.
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  if (!root) {
    return;
  }

  function fail(message) {
    root.textContent = message;
    root.setAttribute("data-state", "error");
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail("GraphiQL could not start: its scripts did not load. Run `make install` and reload.");
    return;
  }

  // Resolve the endpoint against the page's own origin, so the page works
  // behind any host name or port without configuration.
  var endpoint = new URL(root.getAttribute("data-endpoint") || "/graphql", window.location.href);
  // Subscriptions go over a WebSocket to the same endpoint (graphql-transport-ws, bundled in GraphiQL).
  var sockets = new URL(endpoint.toString());
  sockets.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = window.GraphiQL.createFetcher({ url: endpoint.toString(), subscriptionUrl: sockets.toString() });

  var props = { fetcher: fetcher };
  var defaultQuery = root.getAttribute("data-default-query");
  if (defaultQuery) {
    props.defaultQuery = defaultQuery;
  }

  root.textContent = "";
  root.setAttribute("data-state", "ready");
  window.ReactDOM.createRoot(root).render(window.React.createElement(window.GraphiQL, props));
})();
