// Starts GraphiQL on the page served by the Go package ide. The endpoint,
// title and default query come from data attributes of #graphiql.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var cfg = root.dataset;

  function fail(message) {
    root.textContent = '';
    var p = document.createElement('p');
    p.className = 'ide-message';
    p.textContent = message;
    root.appendChild(p);
  }

  if (typeof React === 'undefined' || typeof ReactDOM === 'undefined' || typeof GraphiQL === 'undefined') {
    fail('The GraphQL IDE could not load its scripts. GraphQL endpoint: ' + cfg.endpoint);
    return;
  }

  // Queries and mutations are POSTed to the endpoint; subscriptions use a
  // WebSocket (graphql-transport-ws) at the same path, ws: or wss: following
  // the endpoint's scheme.
  var http = new URL(cfg.endpoint, window.location.href);
  var ws = new URL(http.href);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';

  var fetcher = GraphiQL.createFetcher({
    url: http.href,
    subscriptionUrl: ws.href
  });

  var e = React.createElement;
  ReactDOM.createRoot(root).render(
    e(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: cfg.defaultQuery,
      shouldPersistHeaders: false
    }, e(GraphiQL.Logo, null, cfg.title))
  );
})();
