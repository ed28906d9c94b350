/*
 * ticketgate — the live inbox (served at `/inbox`; hand-written, no build step).
 *
 * An example of a frontend on the API: one `tickets` query for the list, one `ticket`
 * query for a conversation, `sendMessage` to reply, and three subscriptions over the
 * graphql-transport-ws websocket on `/graphql` (the vendored `graphqlWs` client, which
 * reconnects by itself): `ticketChanged` keeps the list current, `messageAdded` the open
 * conversation, `unreadCount` the badge.
 *
 * The API key comes from `#key=…` (a fragment never reaches the server or its logs), is
 * removed from the address bar and kept in localStorage under the same name GraphiQL uses.
 */
(function () {
  'use strict';

  var KEY_STORAGE = 'ticketgate:apiKey';
  var STATUSES = ['NEW', 'OPEN', 'PENDING', 'ON_HOLD', 'RESOLVED'];
  var ASSIGNEES = { anyone: null, unassigned: { unassigned: true }, assigned: { unassigned: false } };
  var TICKET_FIELDS =
    'id ticketNumber status priority updatedAt distinctId lastMessageText unreadTeamCount ' +
    'person { name } assignee { type user { name } role { name } }';
  var MESSAGE_FIELDS = 'id content authorType isPrivate createdAt';

  var $ = function (id) { return document.getElementById(id); };

  function storage(name, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(name);
      window.localStorage.setItem(name, value);
    } catch (e) {
      return null; // storage disabled: the key lives in this page only
    }
    return value;
  }

  function takeKey() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    var key = (params.get('key') || '').trim();
    if (key) {
      storage(KEY_STORAGE, key);
      window.history.replaceState(null, '', window.location.pathname);
      return key;
    }
    return storage(KEY_STORAGE);
  }

  var key = takeKey();
  var state = { tickets: {}, status: null, assignee: 'anyone', openId: null, messages: [] };

  // --- GraphQL over HTTP and the websocket ------------------------------------------------

  function gql(query, variables) {
    return fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.errors) throw new Error(body.errors[0].message);
        return body.data;
      });
  }

  var ws = window.graphqlWs.createClient({
    url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql',
    connectionParams: function () { return { Authorization: 'Bearer ' + key }; },
    // Keep trying for ever: a server restart or a network blip must not end the inbox.
    retryAttempts: Infinity,
    shouldRetry: function () { return true; },
    keepAlive: 10000,
  });

  var everConnected = false;
  ws.on('connected', function () {
    setStatus('live');
    // Events sent while we were away are lost: reload what is shown.
    if (everConnected) { loadTickets(); if (state.openId) openTicket(state.openId); }
    everConnected = true;
  });
  ws.on('closed', function () { setStatus('reconnecting…'); });

  function subscribe(query, variables, onData) {
    return ws.subscribe({ query: query, variables: variables }, {
      next: function (r) { if (r.data) onData(r.data); },
      error: function (e) { showError(e && e.message ? e.message : 'subscription failed'); },
      complete: function () {},
    });
  }

  // --- The list --------------------------------------------------------------------------

  function matches(t) {
    if (state.status && t.status !== state.status) return false;
    if (state.assignee === 'unassigned') return !t.assignee;
    if (state.assignee === 'assigned') return !!t.assignee;
    return true;
  }

  function loadTickets() {
    var filter = {};
    if (state.status) filter.status = [state.status];
    if (ASSIGNEES[state.assignee]) filter.assignee = ASSIGNEES[state.assignee];
    return gql('query($f: TicketFilter) { tickets(first: 50, filter: $f) { nodes { ' +
      TICKET_FIELDS + ' } } }', { f: filter })
      .then(function (data) {
        state.tickets = {};
        data.tickets.nodes.forEach(function (t) { state.tickets[t.id] = t; });
        renderList();
      })
      .catch(function (e) { showError(e.message); });
  }

  function assigneeName(t) {
    if (!t.assignee) return 'unassigned';
    var who = t.assignee.user || t.assignee.role;
    return who ? who.name : t.assignee.type.toLowerCase();
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function renderList() {
    var list = $('tickets');
    var shown = Object.keys(state.tickets)
      .map(function (id) { return state.tickets[id]; })
      .filter(matches)
      // Newest first: ISO-8601 UTC timestamps sort as strings.
      .sort(function (a, b) { return a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0; });
    list.replaceChildren.apply(list, shown.map(function (t) {
      var item = el('li', 'ticket' + (t.id === state.openId ? ' open' : ''));
      item.dataset.id = t.id;
      var head = el('div', 'ticket-head');
      head.append(
        el('span', 'number', '#' + t.ticketNumber),
        el('span', 'status status-' + t.status.toLowerCase(), t.status.replace('_', ' ').toLowerCase()),
        el('span', 'priority', t.priority ? t.priority.toLowerCase() : ''),
        el('span', 'unread', t.unreadTeamCount ? String(t.unreadTeamCount) : ''));
      item.append(
        head,
        el('div', 'customer', t.person ? t.person.name : t.distinctId),
        el('div', 'assignee', assigneeName(t)),
        el('div', 'last', t.lastMessageText || ''));
      item.addEventListener('click', function () { openTicket(t.id); });
      return item;
    }));
    $('empty').hidden = shown.length > 0;
  }

  function renderChips() {
    var status = $('status-chips');
    status.replaceChildren.apply(status, [null].concat(STATUSES).map(function (s) {
      var chip = el('button', 'chip' + (state.status === s ? ' on' : ''),
        s ? s.replace('_', ' ').toLowerCase() : 'all');
      chip.dataset.status = s || 'ALL';
      chip.addEventListener('click', function () { state.status = s; renderChips(); loadTickets(); });
      return chip;
    }));
    var assignee = $('assignee-chips');
    assignee.replaceChildren.apply(assignee, Object.keys(ASSIGNEES).map(function (a) {
      var chip = el('button', 'chip' + (state.assignee === a ? ' on' : ''), a);
      chip.dataset.assignee = a;
      chip.addEventListener('click', function () { state.assignee = a; renderChips(); loadTickets(); });
      return chip;
    }));
  }

  // --- One ticket's conversation ---------------------------------------------------------

  var messageSub = null;

  function openTicket(id) {
    if (state.openId !== id && messageSub) { messageSub(); messageSub = null; }
    state.openId = id;
    state.messages = [];
    renderList();
    $('conversation').hidden = false;
    return gql('query($id: UUID!) { ticket(id: $id) { ' + TICKET_FIELDS +
      ' messages(last: 50) { nodes { ' + MESSAGE_FIELDS + ' } } } }', { id: id })
      .then(function (data) {
        if (state.openId !== id || !data.ticket) return;
        $('conversation-title').textContent = '#' + data.ticket.ticketNumber + ' · ' +
          (data.ticket.person ? data.ticket.person.name : data.ticket.distinctId);
        data.ticket.messages.nodes.forEach(addMessage);
        if (!messageSub) {
          messageSub = subscribe('subscription($t: UUID!) { messageAdded(ticketId: $t) { ' +
            MESSAGE_FIELDS + ' } }', { t: id }, function (d) { addMessage(d.messageAdded); });
        }
      })
      .catch(function (e) { showError(e.message); });
  }

  /** Adds a message once (it may come from the query, the reply and the subscription). */
  function addMessage(m) {
    if (state.messages.some(function (x) { return x.id === m.id; })) return;
    state.messages.push(m);
    state.messages.sort(function (a, b) { return a.createdAt < b.createdAt ? -1 : 1; });
    var box = $('messages');
    box.replaceChildren.apply(box, state.messages.map(function (x) {
      var item = el('li', 'message from-' + x.authorType.toLowerCase() + (x.isPrivate ? ' private' : ''));
      item.dataset.id = x.id;
      item.append(el('div', 'author', x.authorType.toLowerCase()), el('div', 'content', x.content));
      return item;
    }));
    box.scrollTop = box.scrollHeight;
  }

  $('reply').addEventListener('submit', function (event) {
    event.preventDefault();
    var text = $('reply-text').value.trim();
    if (!text || !state.openId) return;
    $('reply-send').disabled = true;
    gql('mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { ' +
      MESSAGE_FIELDS + ' } }', { t: state.openId, c: text })
      .then(function (data) { $('reply-text').value = ''; addMessage(data.sendMessage); })
      .catch(function (e) { showError(e.message); })
      .then(function () { $('reply-send').disabled = false; });
  });

  // --- Status line -----------------------------------------------------------------------

  function setStatus(text) { $('connection').textContent = text; }
  function showError(text) { $('error').textContent = text; $('error').hidden = !text; }

  if (!key) {
    showError('No API key: open the link the server printed (…/inbox#key=tg_…).');
    return;
  }
  renderChips();
  loadTickets();
  subscribe('subscription { ticketChanged { kind ticket { ' + TICKET_FIELDS + ' } } }', {},
    function (d) {
      var t = d.ticketChanged.ticket;
      state.tickets[t.id] = t;
      renderList();
    });
  subscribe('subscription { unreadCount }', {}, function (d) {
    $('unread').textContent = d.unreadCount ? d.unreadCount + ' unread' : '';
  });
})();
