/*
 * ticketgate — GraphiQL bootstrap (project-owned, not vendored).
 *
 * Loaded by the page served at `/` (and `GET /graphql` with `Accept: text/html`)
 * after the vendored UMD builds, which define the globals `React`, `ReactDOM`,
 * `GraphiQL` and `graphqlWs`. Everything is same-origin: no network access
 * beyond this server is needed.
 *
 * API key handling:
 *   - the server prints `http://HOST:PORT/#key=tg_...` on first start; the key
 *     is read from `location.hash` (fragments are never sent to the server),
 *     removed from the address bar and remembered in localStorage;
 *   - the key pre-fills GraphiQL's headers editor as
 *     `{"Authorization": "Bearer <key>"}` — the editor stays the source of
 *     truth: whatever it holds is sent with every HTTP request, and its
 *     Authorization header is sent as `connectionParams` when the
 *     subscription websocket (graphql-transport-ws) connects.
 */
(function () {
  'use strict';

  var KEY_STORAGE = 'ticketgate:apiKey';
  var HTTP_URL = '/graphql';
  var WS_URL =
    (window.location.protocol === 'https:' ? 'wss://' : 'ws://') +
    window.location.host +
    '/graphql';
  var PLACEHOLDER_KEY = '<paste your API key here>';

  var DEFAULT_QUERY = [
    '# Welcome to ticketgate.',
    '#',
    '# Every request needs an API key, sent as',
    '#   Authorization: Bearer <key>',
    '# On first start the server prints a URL like',
    '#   http://127.0.0.1:8080/#key=tg_xxx',
    '# Opening it fills in the Headers editor below',
    '# and remembers the key in this browser.',
    '# Otherwise paste your key there. Subscriptions',
    '# send the same key when the websocket connects.',
    '#',
    '# Run with the play button or Ctrl-Enter.',
    '',
    '{',
    '  tickets(first: 10) {',
    '    nodes {',
    '      ticketNumber',
    '      status',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  function storageGet(name) {
    try {
      return window.localStorage.getItem(name);
    } catch (e) {
      return null; // storage disabled (private mode, policies)
    }
  }

  function storageSet(name, value) {
    try {
      window.localStorage.setItem(name, value);
    } catch (e) {
      /* storage disabled: the key only lives in the headers editor */
    }
  }

  /** Takes `key` out of `#key=...` (keeping any other fragment parameters). */
  function takeKeyFromHash() {
    var hash = window.location.hash.replace(/^#/, '');
    if (!hash) return null;
    var params = new URLSearchParams(hash);
    if (!params.has('key')) return null;
    var key = (params.get('key') || '').trim();
    params.delete('key');
    var rest = params.toString();
    var url = window.location.pathname + window.location.search + (rest ? '#' + rest : '');
    try {
      window.history.replaceState(window.history.state, '', url);
    } catch (e) {
      /* ignore: the key merely stays visible in the address bar */
    }
    return key || null;
  }

  /** The Authorization header value in a headers object, whatever its case. */
  function authorizationOf(headers) {
    if (!headers || typeof headers !== 'object') return null;
    for (var name in headers) {
      if (
        Object.prototype.hasOwnProperty.call(headers, name) &&
        name.toLowerCase() === 'authorization' &&
        typeof headers[name] === 'string'
      ) {
        return headers[name];
      }
    }
    return null;
  }

  var key = takeKeyFromHash();
  if (key) {
    storageSet(KEY_STORAGE, key);
  } else {
    key = storageGet(KEY_STORAGE);
  }
  var initialHeaders = JSON.stringify(
    { Authorization: 'Bearer ' + (key || PLACEHOLDER_KEY) },
    null,
    2,
  );

  /** Remembers a key the user typed into the headers editor. */
  function rememberKey(authorization) {
    var m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization || '');
    if (m && m[1] !== key && m[1].charAt(0) !== '<') {
      key = m[1];
      storageSet(KEY_STORAGE, key);
    }
  }

  // One graphql-ws client per Authorization value: when the key in the
  // headers editor changes, the old connection is disposed and the next
  // subscription connects with the new connectionParams.
  var ws = null; // { client, authorization, fetcher }

  function fetcherFor(headers) {
    var authorization = authorizationOf(headers);
    if (ws && ws.authorization === authorization) return ws.fetcher;
    if (ws) ws.client.dispose();
    var connectionParams = authorization ? { Authorization: authorization } : {};
    var client = window.graphqlWs.createClient({
      url: WS_URL,
      lazy: true,
      connectionParams: function () {
        return connectionParams;
      },
    });
    ws = {
      client: client,
      authorization: authorization,
      fetcher: window.GraphiQL.createFetcher({ url: HTTP_URL, wsClient: client }),
    };
    return ws.fetcher;
  }

  // GraphiQL calls the fetcher with the parsed headers editor content in
  // `opts.headers`; createFetcher adds them to HTTP requests itself.
  function fetcher(graphQLParams, opts) {
    var headers = (opts && opts.headers) || JSON.parse(initialHeaders);
    rememberKey(authorizationOf(headers));
    return fetcherFor(headers)(graphQLParams, opts);
  }

  var root = document.getElementById('graphiql');
  if (!window.React || !window.ReactDOM || !window.GraphiQL || !window.graphqlWs) {
    root.textContent = 'GraphiQL failed to load (missing /graphiql/assets files).';
    return;
  }

  window.ReactDOM.createRoot(root).render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      headers: initialHeaders,
      defaultHeaders: initialHeaders,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    }),
  );
})();
