// The agent desktop: state selector, request popover, task pane, interaction pane with
// the composer, transfer / conference / wrap-up dialogs, CAD variables and history.
// Everything shown comes masked from the server (GET /api/agents/{id}/desktop); the page
// follows /ws/agents/{id} by event position and reloads its view when an event arrives.
"use strict";

(() => {
  const { t, api, el } = LC;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  LC.addStrings({
    en: { reply_to: "Reply to {who}", new_chat_from: "New chat from {who}" },
    cs: { reply_to: "Odpověď pro {who}", new_chat_from: "Nový chat od {who}" },
  });

  const state = {
    agentId: params.get("agent") || localStorage.getItem("livechat-agent") || "",
    view: null, // the last desktop view
    offset: 0, // server clock − browser clock, seconds
    selected: null, // the conversation in the interaction pane
    settings: null,
    socket: null,
    wrapDismissed: new Set(),
    notified: new Set(),
    refreshing: null,
    again: false,
  };
  window.lcDesk = state; // for the end-to-end tests and the curious

  const now = () => Date.now() / 1000 + state.offset;

  // --- loading ------------------------------------------------------------------------

  async function start() {
    $("lang-select").value = LC.getLang();
    LC.setLang(LC.getLang());
    $("lang-select").addEventListener("change", (e) => { LC.setLang(e.target.value); render(); });
    state.settings = await api("GET", "/api/settings");
    wire();
    if (!state.agentId) return showLogin();
    await refresh();
  }

  // One refresh at a time; events arriving meanwhile ask for one more.
  async function refresh() {
    if (state.refreshing) { state.again = true; return state.refreshing; }
    state.refreshing = (async () => {
      do {
        state.again = false;
        await load();
      } while (state.again);
    })();
    try { await state.refreshing; } finally { state.refreshing = null; }
  }

  async function load() {
    let view;
    try {
      view = await api("GET", `/api/agents/${encodeURIComponent(state.agentId)}/desktop`);
    } catch (error) {
      if (error.code === "unknown_agent") return showLogin();
      throw error;
    }
    state.offset = view.now - Date.now() / 1000;
    state.view = view;
    if (view.agent.state === "logged_out") return showLogin();
    if (!state.socket) {
      state.socket = new LC.EventSocket(
        `/ws/agents/${encodeURIComponent(state.agentId)}`, view.position,
        () => refresh(), () => refresh(), (up) => $("connection").classList.toggle("up", up));
      window.lcSocket = state.socket;
    }
    render();
  }

  // --- login --------------------------------------------------------------------------

  async function showLogin() {
    $("desk").hidden = true;
    $("agent-box").hidden = true;
    $("login").hidden = false;
    $("login-id").value = state.agentId;
    // Signing in before the queue list has arrived would send no queues: the button waits for it.
    $("login-submit").disabled = true;
    const { queues } = await api("GET", "/api/queues");
    const box = $("login-queues");
    box.querySelectorAll("label").forEach((node) => node.remove());
    for (const queue of queues) {
      box.append(el("label", { class: "check" },
        el("input", { type: "checkbox", name: "queue", value: queue.name, checked: true }),
        " " + queue.name));
    }
    $("login-submit").disabled = false;
  }

  async function login(event) {
    event.preventDefault();
    const queues = [...document.querySelectorAll("#login-queues input:checked")].map((i) => i.value);
    const agentId = $("login-id").value.trim();
    $("login-error").textContent = "";
    try {
      await api("POST", "/api/agents", {
        agent_id: agentId, name: $("login-name").value.trim(), queues,
        capacity: Number($("login-capacity").value || 1),
      });
    } catch (error) {
      if (error.code !== "agent_state") { $("login-error").textContent = error.message; return; }
    }
    state.agentId = agentId;
    localStorage.setItem("livechat-agent", agentId);
    const url = new URL(location.href);
    url.searchParams.set("agent", agentId);
    history.replaceState(null, "", url);
    $("login").hidden = true;
    await refresh();
  }

  // --- rendering ------------------------------------------------------------------------

  function render() {
    const view = state.view;
    if (!view) return;
    $("login").hidden = true;
    $("desk").hidden = false;
    $("agent-box").hidden = false;
    $("agent-name").textContent = view.agent.name;
    document.title = `${view.agent.name} · ${t("app_title")}`;
    renderState(view.agent);
    renderTasks(view);
    renderPopover(view.offers);
    if (!view.conversations.some((c) => c.id === state.selected)) {
      const first = view.conversations[0];
      state.selected = first ? first.id : null;
    }
    renderInteraction(current());
    renderHistory(view.history);
    maybeWrapUp();
    tickClocks();
  }

  function current() {
    return state.view && state.view.conversations.find((c) => c.id === state.selected);
  }

  function renderState(agent) {
    const select = $("state-select");
    const options = [el("option", { value: "available", text: t("state.available") })];
    for (const reason of state.settings.idle_reasons) {
      options.push(el("option", { value: "idle:" + reason, text: t("idle_prefix", { reason: t("idle." + reason) }) }));
    }
    // RONA is shown, never chosen: the agent leaves it by picking another state.
    options.push(el("option", { value: "rona", text: t("state.rona"), disabled: true }));
    select.replaceChildren(...options);
    select.value = agent.state === "idle" ? "idle:" + agent.idle_reason : agent.state;
    if (agent.state === "idle" && select.value !== "idle:" + agent.idle_reason) {
      select.append(el("option", { value: "idle:" + agent.idle_reason, text: t("idle_prefix", { reason: agent.idle_reason }) }));
      select.value = "idle:" + agent.idle_reason;
    }
    select.title = agent.state === "rona" ? t("rona_hint") : "";
    $("rona-hint").hidden = agent.state !== "rona";
    $("state-dot").className = "state-dot " + agent.state;
    document.body.dataset.agentState = agent.state;
  }

  async function changeState(event) {
    const value = event.target.value;
    const path = `/api/agents/${encodeURIComponent(state.agentId)}`;
    if (value === "available") await act(() => api("POST", `${path}/available`));
    else if (value.startsWith("idle:")) await act(() => api("POST", `${path}/idle`, { reason: value.slice(5) }));
  }

  function renderTasks(view) {
    const list = $("task-list");
    const tiles = [];
    for (const offer of view.offers) {
      tiles.push(el("li", { class: "tile offered", dataset: { id: offer.conversation_id } },
        el("div", { class: "tile-title" }, offer.title,
          offer.proactive ? el("span", { class: "proactive", title: t("proactive"), text: "★" }) : null),
        el("div", { class: "tile-preview" }, t("offer." + offer.kind)),
        el("div", { class: "tile-meta" }, offer.queue, " · ", el("span", { class: "countdown", dataset: { deadline: offer.deadline } }))));
    }
    for (const conversation of view.conversations) {
      const s = conversation.surfaces;
      tiles.push(el("li", {
        class: "tile" + (conversation.id === state.selected ? " selected" : ""),
        dataset: { id: conversation.id, testid: "task-tile" },
        onclick: () => { state.selected = conversation.id; render(); },
      },
      el("div", { class: "tile-title", dataset: { testid: "task-title" } }, s.task_title,
        conversation.proactive ? el("span", { class: "proactive", title: t("proactive"), text: "★" }) : null),
      el("div", { class: "tile-preview", dataset: { testid: "task-preview" } }, s.message_preview),
      el("div", { class: "tile-meta" }, conversation.queue, " · ", stateLabel(conversation), " · ",
        el("span", { class: "elapsed", dataset: { accepted: conversation.my_leg.accepted_at || "" } }))));
    }
    list.replaceChildren(...tiles);
    $("no-tasks").hidden = tiles.length > 0;
    $("no-tasks").textContent = view.agent.state === "available" ? t("no_tasks_waiting") : t("no_tasks");
  }

  function stateLabel(conversation) {
    if (conversation.my_leg.state === "wrapping_up") return t("leg.wrapping_up");
    return t("conv." + conversation.state);
  }

  function renderPopover(offers) {
    const popover = $("popover");
    const offer = offers[0];
    if (!offer) {
      popover.hidden = true;
      popover.replaceChildren();
      if ($("toast").dataset.kind === "offer") $("toast").hidden = true;
      return;
    }
    popover.hidden = false;
    popover.dataset.id = offer.conversation_id;
    const thread = offer.thread.filter((m) => m.role !== "system").slice(-4);
    popover.replaceChildren(
      el("div", { class: "popover-head" },
        el("strong", { text: t("offer." + offer.kind) }),
        offer.proactive ? el("span", { class: "proactive", dataset: { testid: "proactive-marker" } }, "★ ", t("proactive")) : null,
        el("span", { class: "countdown big", dataset: { deadline: offer.deadline, testid: "countdown" } })),
      el("div", { class: "popover-title", dataset: { testid: "popover-title" } }, offer.popover),
      el("dl", { class: "popover-facts" },
        el("dt", { text: t("offer_customer") }), el("dd", { dataset: { testid: "popover-customer" }, text: offer.customer_name }),
        el("dt", { text: t("offer_queue") }), el("dd", { text: offer.queue }),
        el("dt", { text: t("offer_agent") }), el("dd", { text: offer.agent_name }),
        el("dt", { text: t("offer_date") }), el("dd", { text: LC.dateTime(offer.at) })),
      el("ol", { class: "popover-thread", dataset: { testid: "popover-thread" } },
        thread.map((m) => el("li", { class: m.role }, el("b", { text: m.role === "customer" ? m.initials || "•" : m.author_name }), " ", m.text))),
      el("div", { class: "popover-buttons" },
        el("button", { type: "button", class: "danger", onclick: () => offerAction(offer, "decline"), text: t("decline") }),
        el("button", { type: "button", class: "primary", onclick: () => offerAction(offer, "accept"), text: t("accept") })));
    notify(offer);
  }

  // The desktop notification (browser) and its in-page preview, once per offer.
  function notify(offer) {
    const key = offer.conversation_id + "@" + offer.at;
    const text = LC.getLang() === "en" ? offer.notification : notificationText(offer);
    const toast = $("toast");
    if (state.notified.has(key)) {
      // the preview follows the thread while it is shown
      if (!toast.hidden && toast.dataset.offer === key) toast.textContent = text;
      return;
    }
    state.notified.add(key);
    toast.dataset.offer = key;
    toast.textContent = text;
    toast.dataset.kind = "offer";
    toast.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { toast.hidden = true; }, 8000);
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification(t("offer." + offer.kind), { body: text });
    }
  }

  function notificationText(offer) {
    return t("new_chat_from", { who: offer.title }) + (offer.preview ? ": " + offer.preview : "");
  }

  async function offerAction(offer, action) {
    await act(() => api("POST", `/api/conversations/${offer.conversation_id}/${action}`, { agent_id: state.agentId }));
    if (action === "accept") state.selected = offer.conversation_id;
    await refresh();
  }

  function renderInteraction(conversation) {
    $("no-interaction").hidden = !!conversation;
    $("interaction-body").hidden = !conversation;
    const cad = { origin: "—", customer: "—", queue: "—" };
    if (!conversation) {
      setCad(cad);
      return;
    }
    const s = conversation.surfaces;
    const mine = conversation.my_leg;
    const owner = mine.role === "owner";
    const wrapping = mine.state === "wrapping_up";
    const held = ["active", "conference_requested", "conferencing"].includes(conversation.state);
    $("interaction-body").dataset.id = conversation.id;
    $("interaction-body").dataset.state = conversation.state;
    $("interaction-title").textContent = s.interaction_title;
    $("interaction-queue").textContent = conversation.queue;
    $("interaction-state").textContent = stateLabel(conversation);
    $("interaction-state").dataset.state = conversation.state;
    $("interaction-proactive").hidden = !conversation.proactive;
    $("interaction-proactive").textContent = "★ " + t("proactive");
    $("timer").dataset.accepted = mine.accepted_at || "";

    $("btn-transfer").hidden = !(owner && !wrapping && conversation.state === "active");
    $("btn-conference").hidden = !(owner && !wrapping && conversation.state === "active");
    $("btn-end-conference").hidden = !(owner && !wrapping && ["conference_requested", "conferencing"].includes(conversation.state));
    $("btn-leave").hidden = !(!owner && !wrapping && ["conferencing", "disconnected"].includes(conversation.state));
    $("btn-end").hidden = !(owner && !wrapping && (held || conversation.state === "disconnected"));
    $("btn-wrap").hidden = !wrapping;

    const banner = $("banner");
    if (conversation.disconnect_reason === "customer_ended") {
      banner.className = "banner info";
      banner.replaceChildren(el("strong", { text: t("customer_ended") }), " ", t("customer_ended_hint"));
      banner.hidden = false;
    } else if (conversation.disconnect_reason === "asset_deleted") {
      banner.className = "banner warn";
      banner.replaceChildren(el("strong", { text: t("asset_deleted") }), " ", t("asset_deleted_hint"));
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    banner.dataset.reason = conversation.disconnect_reason || "";

    renderMessages(conversation);
    const composer = $("composer-text");
    const canSend = !wrapping && (owner ? held : conversation.state === "conferencing");
    composer.disabled = !canSend;
    $("btn-send").disabled = !canSend;
    $("btn-templates").disabled = !canSend;
    composer.placeholder = LC.getLang() === "en" ? s.composer_placeholder
      : t("reply_to", { who: s.contact_origin || conversation.customer_name });
    cad.origin = s.contact_origin || "—";
    cad.customer = conversation.customer_name;
    cad.queue = conversation.queue;
    setCad(cad);
  }

  function setCad(cad) {
    $("cad-origin").textContent = cad.origin;
    $("cad-customer").textContent = cad.customer;
    $("cad-queue").textContent = cad.queue;
  }

  function renderMessages(conversation) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const signature = conversation.surfaces.message_signature;
    const items = conversation.messages.map((m) => {
      if (m.role === "system") {
        return el("li", { class: "message system", dataset: { id: m.id } }, el("div", { class: "bubble", text: m.text }));
      }
      const mine = m.role === "agent" && m.author === state.agentId;
      return el("li", { class: "message " + m.role + (mine ? " mine" : ""), dataset: { id: m.id } },
        m.role === "customer" ? el("span", { class: "initials", text: m.initials || "•", title: m.author_name }) : null,
        el("div", { class: "bubble-wrap" },
          el("div", { class: "bubble", text: m.text }),
          el("div", { class: "signature" },
            m.role === "customer" ? signature : (mine ? t("you") : m.author_name), " · ", LC.time(m.at))),
        m.role === "agent" ? el("span", { class: "initials agent", text: m.initials }) : null);
    });
    list.replaceChildren(...items);
    if (atBottom || list.dataset.id !== conversation.id) list.scrollTop = list.scrollHeight;
    list.dataset.id = conversation.id;
  }

  function renderHistory(history) {
    const list = $("history");
    if (!history.length) {
      list.replaceChildren(el("li", { class: "empty", text: t("no_history") }));
      return;
    }
    list.replaceChildren(...history.map((h) => el("li", { class: "tile small", dataset: { id: h.id, testid: "history-tile" } },
      el("div", { class: "tile-title", text: h.title }),
      el("div", { class: "tile-meta" }, h.queue, h.wrap_up_reason ? " · " + t("wrapped", { reason: h.wrap_up_reason }) : ""))));
  }

  function tickClocks() {
    const t0 = now();
    document.querySelectorAll("[data-deadline]").forEach((node) => {
      const left = Math.max(0, Math.ceil(Number(node.dataset.deadline) - t0));
      node.textContent = t("rona_in", { seconds: left });
    });
    document.querySelectorAll("[data-accepted]").forEach((node) => {
      node.textContent = node.dataset.accepted ? LC.clock(t0 - Number(node.dataset.accepted)) : "";
    });
  }

  // --- the composer ---------------------------------------------------------------------

  function updateCounter() {
    const text = $("composer-text").value.replace(/\r\n?/g, "\n").normalize("NFC");
    const length = [...text].length;
    const counter = $("counter");
    counter.textContent = `${length} / ${state.settings.max_message_length}`;
    counter.classList.toggle("over", length > state.settings.max_message_length);
  }

  async function send(event) {
    if (event) event.preventDefault();
    const conversation = current();
    if (!conversation) return;
    const box = $("composer-text");
    const text = box.value;
    try {
      await api("POST", `/api/conversations/${conversation.id}/messages`, { agent_id: state.agentId, text });
    } catch (error) {
      if (!(error instanceof LC.ApiError)) throw error;
      return showComposerError(error, text);
    }
    box.value = "";
    hideComposerError();
    updateCounter();
    await refresh();
  }

  // A refusal is shown under the composer; a reserved character is also selected in the
  // text and shown in its context, so the agent sees where it is.
  function showComposerError(error, text) {
    const box = $("composer-error");
    box.hidden = false;
    box.dataset.code = error.code;
    const d = error.details || {};
    if (error.code === "reserved_character") {
      const chars = [...text.replace(/\r\n?/g, "\n").normalize("NFC")];
      const position = d.position;
      // one line: a line break shows as ↵
      const before = chars.slice(Math.max(0, position - 20), position).join("").replace(/\n/g, "↵");
      const after = chars.slice(position + 1, position + 21).join("").replace(/\n/g, "↵");
      box.dataset.position = position;
      box.replaceChildren(
        el("div", { text: t("reserved_character", { character: d.character, position }) }),
        el("code", { class: "excerpt" }, position > 20 ? "…" : "", before,
          el("mark", { text: d.character }), after, position + 21 < chars.length ? "…" : ""));
      const textarea = $("composer-text");
      // the position counts code points; the textarea counts UTF-16 units
      const unit = chars.slice(0, position).join("").length;
      textarea.focus();
      textarea.setSelectionRange(unit, unit + 1);
    } else if (error.code === "message_too_long") {
      box.replaceChildren(el("div", { text: t("message_too_long", { length: d.length, limit: d.limit }) }));
    } else if (error.code === "empty_message") {
      box.replaceChildren(el("div", { text: t("empty_message") }));
    } else {
      box.replaceChildren(el("div", { text: error.message }));
    }
  }

  function hideComposerError() {
    const box = $("composer-error");
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.code;
    delete box.dataset.position;
  }

  // --- templates ------------------------------------------------------------------------

  let templates = [];

  async function openTemplates() {
    templates = (await api("GET", `/api/templates?lang=${LC.getLang()}`)).templates;
    const select = $("template-select");
    select.replaceChildren(...templates.map((tpl, i) => el("option", { value: i, text: tpl.name })));
    showTemplate();
    $("template-error").textContent = "";
    $("template-dialog").showModal();
  }

  function showTemplate() {
    const tpl = templates[Number($("template-select").value)] || templates[0];
    if (!tpl) return;
    $("template-text").textContent = tpl.text;
    $("template-params").replaceChildren(...tpl.parameters.map((name) => el("label", {},
      el("span", { text: name }), el("input", { name, dataset: { param: name } }))));
  }

  async function insertTemplate() {
    const tpl = templates[Number($("template-select").value)];
    const parameters = {};
    document.querySelectorAll("#template-params input").forEach((input) => {
      if (input.value !== "") parameters[input.dataset.param] = input.value;
    });
    try {
      const { text } = await api("POST", "/api/templates/fill", { template: tpl.text, parameters });
      const box = $("composer-text");
      const at = box.selectionStart ?? box.value.length;
      box.value = box.value.slice(0, at) + text + box.value.slice(box.selectionEnd ?? at);
      $("template-dialog").close();
      updateCounter();
      box.focus();
    } catch (error) {
      $("template-error").textContent = error.code === "missing_template_parameter"
        ? t("missing_template_parameter", { missing: (error.details.missing || []).join(", ") }) : error.message;
    }
  }

  // --- dialogs: transfer, conference, wrap-up ---------------------------------------------------

  function optionList(listId, items, name) {
    const list = $(listId);
    if (!items.length) {
      list.replaceChildren(el("li", { class: "empty", text: t("no_options") }));
      return;
    }
    list.replaceChildren(...items.map((item, i) => el("li", {},
      el("label", {}, el("input", { type: "radio", name, value: item.value, checked: i === 0 && items.length === 1 }),
        " ", item.label, item.detail ? el("small", { text: " " + item.detail }) : null))));
  }

  function chosen(name) {
    const input = document.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : null;
  }

  function transferKind() { return chosen("transfer-kind"); }

  async function loadTransferOptions() {
    const q = encodeURIComponent($("transfer-search").value);
    if (transferKind() === "queue") {
      const { queues } = await api("GET", `/api/queues?q=${q}`);
      optionList("transfer-options", queues.map((queue) => ({ value: queue.name, label: queue.name })), "transfer-target");
    } else {
      const { agents } = await api("GET", `/api/agents?available=true&exclude=${encodeURIComponent(state.agentId)}&q=${q}`);
      optionList("transfer-options", agents.map((a) => ({ value: a.id, label: a.name, detail: a.id })), "transfer-target");
    }
  }

  async function loadConferenceOptions() {
    const q = encodeURIComponent($("conference-search").value);
    const { agents } = await api("GET", `/api/agents?available=true&exclude=${encodeURIComponent(state.agentId)}&q=${q}`);
    optionList("conference-options", agents.map((a) => ({ value: a.id, label: a.name, detail: a.id })), "conference-target");
  }

  async function openTransfer() {
    $("transfer-search").value = "";
    $("transfer-error").textContent = "";
    await loadTransferOptions();
    $("transfer-dialog").showModal();
  }

  async function submitTransfer() {
    const target = chosen("transfer-target");
    if (!target) { $("transfer-error").textContent = t("choose_first"); return; }
    const body = { agent_id: state.agentId };
    body[transferKind() === "queue" ? "queue" : "target_agent_id"] = target;
    try {
      await api("POST", `/api/conversations/${state.selected}/transfer`, body);
    } catch (error) {
      $("transfer-error").textContent = error.message;
      return;
    }
    $("transfer-dialog").close();
    await refresh(); // the leg is wrapping up now: the wrap-up dialog opens
  }

  async function openConference() {
    $("conference-search").value = "";
    $("conference-error").textContent = "";
    await loadConferenceOptions();
    $("conference-dialog").showModal();
  }

  async function submitConference() {
    const target = chosen("conference-target");
    if (!target) { $("conference-error").textContent = t("choose_first"); return; }
    try {
      await api("POST", `/api/conversations/${state.selected}/conference`, { agent_id: state.agentId, guest_agent_id: target });
    } catch (error) {
      $("conference-error").textContent = error.message;
      return;
    }
    $("conference-dialog").close();
    await refresh();
  }

  function maybeWrapUp() {
    const dialog = $("wrap-dialog");
    if (dialog.open || document.querySelector("dialog[open]")) return;
    const pending = state.view.conversations.find((c) => c.my_leg.state === "wrapping_up" && !state.wrapDismissed.has(c.id));
    if (pending) openWrapUp(pending);
  }

  function openWrapUp(conversation) {
    const dialog = $("wrap-dialog");
    dialog.dataset.id = conversation.id;
    $("wrap-subject").textContent = t("wrap_for", { who: conversation.surfaces.task_title });
    $("wrap-search").value = "";
    $("wrap-notes").value = "";
    $("wrap-error").textContent = "";
    renderReasons();
    state.selected = conversation.id;
    if (!dialog.open) dialog.showModal();
  }

  function renderReasons() {
    const dialog = $("wrap-dialog");
    const conversation = state.view.conversations.find((c) => c.id === dialog.dataset.id);
    const words = fold($("wrap-search").value).split(/\s+/).filter(Boolean);
    const reasons = (conversation ? conversation.wrap_up_reasons : []).filter((r) => words.every((w) => fold(r).includes(w)));
    optionList("wrap-options", reasons.map((r) => ({ value: r, label: r })), "wrap-reason");
  }

  // The same folding as the library's filter_options: case and accents ignored.
  function fold(text) { return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase(); }

  async function submitWrapUp() {
    const dialog = $("wrap-dialog");
    const reason = chosen("wrap-reason");
    if (!reason) { $("wrap-error").textContent = t("choose_first"); return; }
    try {
      await api("POST", `/api/conversations/${dialog.dataset.id}/wrap-up`, {
        agent_id: state.agentId, reason, notes: $("wrap-notes").value,
      });
    } catch (error) {
      $("wrap-error").textContent = error.message;
      return;
    }
    dialog.close();
    await refresh();
  }

  // --- wiring -----------------------------------------------------------------------------------

  async function act(action) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof LC.ApiError)) throw error;
      const toast = $("toast");
      toast.textContent = error.message;
      toast.hidden = false;
      toast.dataset.kind = "error";
      toast.dataset.code = error.code;
      setTimeout(() => { toast.hidden = true; }, 6000);
      return null;
    } finally {
      await refresh();
    }
  }

  function conversationAction(path) {
    return () => act(() => api("POST", `/api/conversations/${state.selected}/${path}`, { agent_id: state.agentId }));
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  function wire() {
    $("login-form").addEventListener("submit", login);
    $("state-select").addEventListener("change", changeState);
    $("logout").addEventListener("click", async () => {
      await act(() => api("POST", `/api/agents/${encodeURIComponent(state.agentId)}/logout`));
    });
    $("composer").addEventListener("submit", send);
    const composer = $("composer-text");
    composer.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
    });
    composer.addEventListener("input", () => { updateCounter(); hideComposerError(); });
    $("btn-templates").addEventListener("click", openTemplates);
    $("template-select").addEventListener("change", showTemplate);
    $("template-insert").addEventListener("click", insertTemplate);
    $("btn-transfer").addEventListener("click", openTransfer);
    $("btn-conference").addEventListener("click", openConference);
    $("btn-end-conference").addEventListener("click", conversationAction("end-conference"));
    $("btn-leave").addEventListener("click", conversationAction("end-conference"));
    $("btn-end").addEventListener("click", conversationAction("end"));
    $("btn-wrap").addEventListener("click", () => { const c = current(); if (c) openWrapUp(c); });
    document.querySelectorAll('input[name="transfer-kind"]').forEach((r) => r.addEventListener("change", loadTransferOptions));
    $("transfer-search").addEventListener("input", debounce(loadTransferOptions, 150));
    $("transfer-reload").addEventListener("click", loadTransferOptions);
    $("transfer-submit").addEventListener("click", submitTransfer);
    $("conference-search").addEventListener("input", debounce(loadConferenceOptions, 150));
    $("conference-reload").addEventListener("click", loadConferenceOptions);
    $("conference-submit").addEventListener("click", submitConference);
    $("wrap-search").addEventListener("input", renderReasons);
    $("wrap-submit").addEventListener("click", submitWrapUp);
    $("wrap-dialog").addEventListener("close", () => {
      const id = $("wrap-dialog").dataset.id;
      if (id && state.view && state.view.conversations.some((c) => c.id === id && c.my_leg.state === "wrapping_up")) {
        if ($("wrap-dialog").returnValue === "cancel") state.wrapDismissed.add(id);
      }
    });
    setInterval(tickClocks, 250);
    if ("Notification" in window && Notification.permission === "default") {
      document.addEventListener("click", () => Notification.requestPermission(), { once: true });
    }
  }

  start().catch((error) => { console.error(error); });
})();
