// The customer's chat widget: start a chat, send messages, see agent and system
// messages, end the chat. It follows /ws/chats/{id} by event position: messages are
// appended as their events arrive, and a reconnect resumes after the last position.
"use strict";

(() => {
  const { t, api, el } = LC;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  LC.addStrings({
    en: {
      title: "Chat with us", invited: "We invited you to chat",
      invited_hint: "One of our agents would be glad to help you.",
      your_name: "Your name", contact: "E-mail or phone", topic: "Topic", start: "Start chat",
      type_here: "Type your message", send: "Send", end_chat: "End chat", new_chat: "New chat",
      waiting: "Waiting for an agent…", chatting: "Chatting with {agent}", ended: "The chat has ended",
      you: "You", agent: "Agent",
    },
    cs: {
      title: "Napište nám", invited: "Zveme vás k chatu",
      invited_hint: "Náš agent vám rád pomůže.",
      your_name: "Vaše jméno", contact: "E-mail nebo telefon", topic: "Téma", start: "Zahájit chat",
      type_here: "Napište zprávu", send: "Odeslat", end_chat: "Ukončit chat", new_chat: "Nový chat",
      waiting: "Čekáte na agenta…", chatting: "Píšete si s: {agent}", ended: "Chat byl ukončen",
      you: "Vy", agent: "Agent",
    },
  });

  const proactive = ["1", "true", "yes"].includes((params.get("proactive") || "").toLowerCase());
  const state = { id: sessionStorage.getItem("livechat-chat"), chat: null, socket: null };
  window.lcWidget = state;

  async function start() {
    $("lang-select").value = LC.getLang();
    LC.setLang(LC.getLang());
    $("lang-select").addEventListener("change", (e) => { LC.setLang(e.target.value); status(); });
    $("invitation").hidden = !proactive;
    const fixed = params.get("queue");
    if (fixed) {
      $("queue").replaceChildren(el("option", { value: fixed, text: fixed }));
      $("queue-row").hidden = true;
    } else {
      const { queues } = await api("GET", "/api/queues");
      $("queue").replaceChildren(...queues.map((q) => el("option", { value: q.name, text: q.name })));
    }
    wire();
    if (state.id) await open(state.id);
  }

  async function begin(event) {
    event.preventDefault();
    try {
      const { id } = await api("POST", "/api/chats", {
        queue: $("queue").value, customer_name: $("name").value.trim(),
        customer_contact: $("contact").value.trim(), proactive,
        asset: params.get("asset") || "livechat",
      });
      sessionStorage.setItem("livechat-chat", id);
      await open(id);
    } catch (error) {
      $("start-error").textContent = error.message;
    }
  }

  // Show the chat as it stands, then follow its events from that position.
  async function open(id) {
    let chat;
    try {
      chat = await api("GET", `/api/chats/${id}`);
    } catch (error) {
      sessionStorage.removeItem("livechat-chat");
      state.id = null;
      return;
    }
    state.id = id;
    state.chat = chat;
    $("start-form").hidden = true;
    $("chat").hidden = false;
    $("messages").replaceChildren(...chat.messages.map(bubble));
    scroll();
    status();
    if (state.socket) state.socket.close();
    state.socket = new LC.EventSocket(`/ws/chats/${id}`, chat.position, onFrame, () => open(id));
    window.lcSocket = state.socket;
  }

  function bubble(m) {
    const author = m.role === "customer" ? t("you") : m.role === "agent" ? (m.author_name || t("agent")) : null;
    return el("li", { class: "message " + m.role, dataset: { id: m.id } },
      author ? el("div", { class: "author", text: author }) : null,
      el("div", { class: "bubble", text: m.text }));
  }

  async function onFrame(frame) {
    if (frame.type === "MessagePosted") {
      $("messages").append(bubble(frame.message));
      scroll();
    } else if (frame.type === "MessagesRedacted") {
      for (const [id, text] of frame.redactions) {
        const node = document.querySelector(`.message[data-id="${CSS.escape(id)}"] .bubble`);
        if (node) node.textContent = text;
      }
    }
    if (frame.type !== "MessagePosted" || frame.message.role === "system") {
      const chat = await api("GET", `/api/chats/${state.id}`);
      state.chat = chat;
      status();
    }
  }

  function status() {
    const chat = state.chat;
    if (!chat) { $("status").textContent = ""; return; }
    const waiting = ["queued", "offered", "transfer_requested"].includes(chat.state);
    $("status").textContent = chat.ended ? t("ended") : waiting ? t("waiting") : t("chatting", { agent: chat.agent_name });
    $("widget").dataset.state = chat.state;
    $("text").disabled = chat.ended;
    $("composer").querySelector("button").disabled = chat.ended;
    $("end").hidden = chat.ended;
    $("new-chat").hidden = !chat.ended;
    scroll();
  }

  function scroll() { const list = $("messages"); list.scrollTop = list.scrollHeight; }

  async function send(event) {
    if (event) event.preventDefault();
    const text = $("text").value;
    try {
      await api("POST", `/api/chats/${state.id}/messages`, { text });
      $("text").value = "";
      $("send-error").textContent = "";
    } catch (error) {
      $("send-error").textContent = error.message;
    }
  }

  async function end() {
    try {
      await api("POST", `/api/chats/${state.id}/end`);
    } catch (error) {
      $("send-error").textContent = error.message;
    }
  }

  function newChat() {
    if (state.socket) state.socket.close();
    sessionStorage.removeItem("livechat-chat");
    state.id = null;
    state.chat = null;
    $("chat").hidden = true;
    $("start-form").hidden = false;
    $("status").textContent = "";
  }

  function wire() {
    $("start-form").addEventListener("submit", begin);
    $("composer").addEventListener("submit", send);
    $("text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
    });
    $("end").addEventListener("click", end);
    $("new-chat").addEventListener("click", newChat);
  }

  start().catch((error) => console.error(error));
})();
