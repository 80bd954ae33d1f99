// The staff inbox: the list, the open thread and the customer, kept fresh by short polling of
// /inbox/updates. No framework: the server sends small JSON, this draws it.
(() => {
  "use strict";
  const root = document.getElementById("inbox");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const base = root.dataset.baseUrl;
  const pollMs = Math.max(500, Number(root.dataset.pollMs) || 3000);
  const canReply = root.dataset.canReply === "1";
  const savedReplies = JSON.parse($("saved-replies").textContent);
  const IN_FLIGHT = new Set(["queued", "sending"]);

  const state = {
    view: "all",
    account: "",
    open: null, // the open conversation's id
    conversation: null,
    lastId: 0, // the newest message id drawn
    lastIncomingId: 0,
    pending: new Set(), // ids of messages still on their way
    timer: null,
    suggestion: 0,
    sending: false, // a reply is on its way to the server
    drafts: new Map(), // conversation id → what was typed there and not sent
  };

  // --- talking to the server ---

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${response.status} ${url}`);
    return response.json();
  }

  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      body: new URLSearchParams(data),
    });
    const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status}`);
    return body;
  }

  const conversationUrl = (id, action) => `${base}c/${id}${action ? "/" + action : ""}`;

  // --- drawing ---

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    const at = new Date(iso);
    const seconds = (Date.now() - at.getTime()) / 1000;
    if (seconds < 60) return "now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86400 && at.getDate() === new Date().getDate())
      return at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return at.toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function conversationItem(c) {
    const classes = ["conversation"];
    if (c.unread) classes.push("unread");
    if (c.needs_reply) classes.push("needs-reply");
    if (c.id === state.open) classes.push("active");
    const badges = el("span", { class: "badges" });
    if (c.assigned_to) badges.append(el("span", { class: "badge", text: c.assigned_to }));
    if (c.bot_paused) badges.append(el("span", { class: "badge paused", text: "bot off" }));
    const link = el(
      "a",
      { href: `?c=${c.id}`, class: classes.join(" "), "data-id": c.id },
      el("span", { class: "who", text: c.customer }),
      el("time", { datetime: c.last_message_at, text: when(c.last_message_at) }),
      el("span", { class: "account", text: c.account }),
      badges,
      el("span", { class: "preview", text: c.preview || " " }),
    );
    return el("li", {}, link);
  }

  function drawList(data) {
    const count = data.needs_reply;
    document.title = `${count ? `(${count}) ` : ""}Inbox · instabot`;
    $("needs-count").textContent = data.needs_reply_listed;
    const needs = data.conversations.filter((c) => c.needs_reply);
    const rest = data.conversations.filter((c) => !c.needs_reply);
    $("needs-list").replaceChildren(...needs.map(conversationItem));
    $("rest-list").replaceChildren(...rest.map(conversationItem));
    $("list-empty").hidden = data.conversations.length > 0;
    $("needs-title").hidden = needs.length === 0;
    $("rest-title").hidden = rest.length === 0;
  }

  function messageItem(m) {
    const side = m.direction === "in" ? "in" : "out";
    const body = el("div", { class: "text" });
    if (m.is_deleted) body.append(el("em", { text: "Unsent by the customer" }));
    else if (m.sent) body.append(...sentContent(m.sent));
    else body.textContent = m.text;
    for (const a of m.attachments || []) {
      const label = `[${a.type || "attachment"}]`;
      body.append(" ", a.url ? el("a", { href: a.url, target: "_blank", rel: "noopener", text: label }) : label);
    }
    const meta = el("div", { class: "meta" }, el("span", { class: "by", text: m.who }), " · ",
      el("time", { datetime: m.at, text: when(m.at) }));
    if (m.reaction) meta.append(" ", el("span", { class: "reaction", text: m.reaction }));
    if (m.status) {
      meta.append(" ", el("span", { class: `status status-${m.status}`, text: m.status_label }));
    }
    if (m.tap) body.append(el("div", { class: "tap", text: m.tap }));
    const item = el("li", { id: `m-${m.id}`, class: `bubble ${side} author-${m.author}` }, body, meta);
    if (m.error) item.append(el("div", { class: "error", text: m.error }));
    if (m.answered_from) item.append(answeredFrom(m));
    return item;
  }

  // An answer from knowledge or the assistant: which entries, and staff's verdict on it.
  function answeredFrom(m) {
    const answer = m.answered_from;
    const box = el("div", { class: `answered-from verdict-${answer.verdict || "none"}` },
      el("span", { text: `${answer.label === "assistant" ? "Assistant, from" : "Answered from"}: ${answer.titles.join(", ")}` }));
    for (const [verdict, title] of [["good", "Good"], ["wrong", "Wrong"]]) {
      const button = el("button", { type: "button", class: `judge judge-${verdict}`, text: title });
      button.setAttribute("aria-pressed", String(answer.verdict === verdict));
      button.disabled = !canReply;
      button.addEventListener("click", async () => {
        await command("judge", { answer: answer.id, verdict });
        answer.verdict = verdict;
        drawMessage(m);
      });
      box.append(" ", button);
    }
    return box;
  }

  // What we sent beyond text, as the customer saw it: buttons, quick replies, cards, media.
  function chatButtons(buttons) {
    return (buttons || []).map((b) =>
      b.url
        ? el("a", { class: "chat-button", href: b.url, target: "_blank", rel: "noopener", text: `${b.title} ↗` })
        : el("span", { class: "chat-button", title: b.payload, text: b.title }));
  }

  function sentContent(sent) {
    if (sent.kind === "media") {
      return [el("a", { href: sent.url, target: "_blank", rel: "noopener", text: `[${sent.media_kind}]` })];
    }
    if (sent.kind === "cards") {
      const cards = sent.cards.map((card) => el("div", { class: "card" },
        el("strong", { text: card.title }),
        card.subtitle ? el("div", { class: "subtitle", text: card.subtitle }) : "",
        ...chatButtons(card.buttons)));
      return [el("div", { class: "cards" }, ...cards)];
    }
    const parts = [el("div", { text: sent.text }), ...chatButtons(sent.buttons)];
    if (sent.quick_replies && sent.quick_replies.length) {
      parts.push(el("div", { class: "quick-replies" },
        ...sent.quick_replies.map((title) => el("span", { class: "quick-reply", text: title }))));
    }
    return parts;
  }

  function drawMessage(m) {
    const list = $("messages");
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const drawn = document.getElementById(`m-${m.id}`);
    const item = messageItem(m);
    if (drawn) drawn.replaceWith(item);
    else list.append(item);
    if (IN_FLIGHT.has(m.status)) state.pending.add(m.id);
    else state.pending.delete(m.id);
    state.lastId = Math.max(state.lastId, m.id);
    if (m.direction === "in") state.lastIncomingId = Math.max(state.lastIncomingId, m.id);
    if (stick || !drawn) list.scrollTop = list.scrollHeight;
  }

  function drawConversation(c) {
    state.conversation = c;
    $("thread-customer").textContent = c.customer;
    $("thread-account").textContent = c.account;
    $("resolve").textContent = c.status === "archived" ? "Reopen" : "Resolve";
    $("toggle-bot").textContent = c.bot_paused ? "Resume bot" : "Pause bot";
    $("bot-silence").hidden = !c.bot_silence;
    $("bot-silence").textContent = c.bot_silence ? `Bot silent: ${c.bot_silence}` : "";
    $("assign").value = c.assigned_to_id ? String(c.assigned_to_id) : "";
    for (const id of ["assign", "toggle-bot", "resolve", "reply-text", "send"]) $(id).disabled = !canReply;
    // Instagram's reply windows: closed, the box says why; from 24 hours to 7 days, that the
    // reply goes with the Human Agent tag.
    const window_ = c.reply_window || { open: true };
    $("reply-window").hidden = !window_.reason;
    $("reply-window").textContent = window_.reason || "";
    $("reply-window").classList.toggle("closed", !window_.open);
    if (!window_.open) for (const id of ["reply-text", "send"]) $(id).disabled = true;
  }

  function drawCustomer(card) {
    $("customer").hidden = false;
    $("customer-name").textContent = card.customer;
    $("customer-account").textContent = card.account;
    $("customer-since").textContent = card.since
      ? new Date(card.since).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })
      : "";
    $("customer-origin").textContent = card.origin || "—";
    drawComment(card.comment);
    $("customer-id").textContent = card.customer_id;
    drawContact(card.contact);
    const privacy = $("customer-privacy");
    if (privacy) privacy.href = privacy.dataset.url.replace("/0/", `/${state.open}/`);
    $("notes").replaceChildren(
      ...card.notes.map((n) =>
        el("li", {}, el("p", { text: n.text }), el("span", { class: "muted", text: `${n.author} · ${when(n.at)}` })),
      ),
    );
  }

  // The contact: when seen, where from, its tags and a box per field of the account.
  const FIELD_INPUTS = { number: "text", email: "email", phone: "tel", date: "date", text: "text" };

  function drawContact(contact) {
    const day = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "—");
    $("contact-last-seen").textContent = day(contact.last_seen);
    $("contact-source").textContent =
      [contact.source, contact.source_ref].filter(Boolean).join(" · ") || "—";
    $("contact-tag-list").replaceChildren(...contact.tags.map((tag) => el("li", { class: "tag", text: tag })));
    $("contact-tags").value = contact.tags.join(", ");
    $("contact-opted-out").checked = contact.opted_out;
    $("contact-error").hidden = true;
    $("contact-fields").replaceChildren(
      ...contact.fields.map((field) => {
        const name = `field:${field.key}`;
        let input;
        if (field.kind === "choice") {
          input = el("select", { name }, el("option", { value: "", text: "—" }),
            ...field.choices.map((choice) => el("option", { value: choice, text: choice })));
        } else {
          input = el("input", { name, type: FIELD_INPUTS[field.kind] || "text", maxlength: 1000,
            inputmode: field.kind === "number" ? "decimal" : null, autocomplete: "off" });
        }
        input.value = field.value;
        return el("label", {}, field.label, input);
      }),
    );
  }

  // The comment whose private reply began the conversation: its text, its post's thumbnail.
  function drawComment(comment) {
    const box = $("customer-comment");
    box.hidden = !comment;
    if (!comment) return box.replaceChildren();
    const picture = comment.thumbnail_url
      ? el("img", { src: comment.thumbnail_url, alt: comment.post, width: 56, height: 56 })
      : null;
    const post = comment.permalink
      ? el("a", { href: comment.permalink, target: "_blank", rel: "noopener", text: comment.post })
      : el("span", { text: comment.post });
    box.replaceChildren(
      picture && comment.permalink
        ? el("a", { href: comment.permalink, target: "_blank", rel: "noopener", class: "thumb" }, picture)
        : picture,
      el(
        "div",
        {},
        el("blockquote", { text: comment.text }),
        el("span", { class: "muted" }, `${comment.author} on `, post, ` · ${when(comment.at)}`),
        comment.public_reply
          ? el("p", { class: "muted public-reply",
            text: `Answered in public: “${comment.public_reply.text}” (${comment.public_reply.status})` })
          : "",
      ),
    );
  }

  function show(pane) {
    root.dataset.pane = pane;
    // On a phone the thread pane was hidden (display: none) while its messages were drawn,
    // so it could not scroll then: now that it shows, its newest message comes into view.
    if (pane === "thread") scrollToNewest();
  }

  function scrollToNewest() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  // --- opening a conversation, polling ---

  async function open(id) {
    const data = await getJSON(conversationUrl(id));
    // What was typed stays with its conversation: never sent to the next customer opened.
    const box = $("reply-text");
    if (state.open !== null) state.drafts.set(state.open, box.value);
    box.value = state.drafts.get(id) || "";
    state.open = id;
    state.lastId = state.lastIncomingId = 0;
    state.pending.clear();
    $("thread-placeholder").hidden = true;
    $("thread-wrap").hidden = false;
    $("messages").replaceChildren();
    $("send-error").hidden = true;
    const assign = $("assign");
    assign.replaceChildren(el("option", { value: "", text: "Unassigned" }),
      ...data.staff.map((u) => el("option", { value: u.id, text: u.username })));
    drawConversation(data.conversation);
    data.messages.forEach(drawMessage);
    drawCustomer(data.customer);
    for (const a of document.querySelectorAll(".conversation")) a.classList.toggle("active", a.dataset.id == id);
    history.replaceState(null, "", `?c=${id}`);
    show("thread");
    await markRead();
  }

  async function markRead() {
    if (!state.open || !state.lastIncomingId) return;
    await post(conversationUrl(state.open, "read"), { message: state.lastIncomingId });
    const item = document.querySelector(`.conversation[data-id="${state.open}"]`);
    if (item) item.classList.remove("unread");
  }

  async function poll() {
    clearTimeout(state.timer);
    const query = new URLSearchParams({ view: state.view, account: state.account });
    if (state.open) {
      query.set("open", state.open);
      query.set("after", state.lastId);
      if (state.pending.size) query.set("pending", [...state.pending].join(","));
    }
    try {
      const data = await getJSON(`${root.dataset.updatesUrl}?${query}`);
      drawList(data);
      if (data.conversation && data.conversation.id === state.open) {
        const before = state.lastIncomingId;
        drawConversation(data.conversation);
        data.messages.forEach(drawMessage);
        if (state.lastIncomingId > before) await markRead();
      }
      root.classList.remove("offline");
    } catch (error) {
      root.classList.add("offline");
    } finally {
      state.timer = setTimeout(poll, pollMs);
    }
  }

  // --- saved replies: typing /shortcut offers them ---

  function typedShortcut() {
    const box = $("reply-text");
    const before = box.value.slice(0, box.selectionStart);
    const match = before.match(/(^|\s)\/([\w-]*)$/);
    return match ? { word: match[2], start: before.length - match[2].length - 1 } : null;
  }

  function matchingReplies() {
    const typed = typedShortcut();
    if (!typed || !state.conversation) return [];
    const account = state.conversation.account_id;
    return savedReplies.filter(
      (r) => (r.account_id === null || r.account_id === account) && r.shortcut.startsWith(typed.word.toLowerCase()),
    );
  }

  function drawSuggestions() {
    const found = matchingReplies();
    const list = $("suggestions");
    list.hidden = found.length === 0;
    state.suggestion = Math.min(state.suggestion, Math.max(0, found.length - 1));
    list.replaceChildren(
      ...found.map((r, n) =>
        el("li", { role: "option", class: n === state.suggestion ? "chosen" : "", "data-n": n },
          el("strong", { text: `/${r.shortcut}` }), el("span", { text: r.text })),
      ),
    );
    return found;
  }

  function useSuggestion(n) {
    const found = matchingReplies();
    const typed = typedShortcut();
    if (!found[n] || !typed) return;
    const box = $("reply-text");
    const after = box.value.slice(box.selectionStart);
    box.value = box.value.slice(0, typed.start) + found[n].text + after;
    box.selectionStart = box.selectionEnd = typed.start + found[n].text.length;
    state.suggestion = 0;
    drawSuggestions();
    box.focus();
  }

  // --- what staff do ---

  async function send() {
    const box = $("reply-text");
    const text = box.value.trim();
    // One reply at a time: a second Enter while the first is on its way must not send it twice.
    if (!text || !state.open || state.sending) return;
    const id = state.open;
    state.sending = true;
    $("send").disabled = true;
    $("send-error").hidden = true;
    try {
      const data = await post(conversationUrl(id, "reply"), { text });
      state.drafts.delete(id);
      if (state.open === id) {
        data.messages.forEach(drawMessage);
        box.value = "";
        drawSuggestions();
      }
    } catch (error) {
      // Refused before it was queued (Instagram's window is closed, say): the reason stays
      // above the box, with the text still in it.
      if (state.open === id) {
        $("send-error").textContent = `Not sent: ${error.message}`;
        $("send-error").hidden = false;
      }
    } finally {
      state.sending = false;
      $("send").disabled = !canReply;
      box.focus();
    }
    poll();
  }

  async function command(name, data = {}) {
    const result = await post(conversationUrl(state.open, name), data);
    drawConversation(result.conversation);
    drawCustomer(result.customer);
    poll();
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("reply-text").addEventListener("keydown", (event) => {
    const suggestions = $("suggestions");
    if (!suggestions.hidden && ["ArrowDown", "ArrowUp"].includes(event.key)) {
      event.preventDefault();
      const count = suggestions.children.length;
      state.suggestion = (state.suggestion + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      drawSuggestions();
      return;
    }
    if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && !suggestions.hidden) {
      event.preventDefault();
      useSuggestion(state.suggestion);
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("reply-text").addEventListener("input", drawSuggestions);
  $("suggestions").addEventListener("mousedown", (event) => {
    const item = event.target.closest("li");
    if (item) {
      event.preventDefault();
      useSuggestion(Number(item.dataset.n));
    }
  });
  $("assign").addEventListener("change", (event) => command("assign", { user: event.target.value }));
  $("resolve").addEventListener("click", () =>
    command(state.conversation.status === "archived" ? "reopen" : "resolve"),
  );
  $("toggle-bot").addEventListener("click", () => command(state.conversation.bot_paused ? "resume" : "pause"));
  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = event.target.elements.text;
    if (!box.value.trim()) return;
    await command("note", { text: box.value });
    box.value = "";
  });
  $("contact-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    try {
      await command("contact", data);
    } catch (error) {
      $("contact-error").textContent = error.message;
      $("contact-error").hidden = false;
    }
  });
  $("list").addEventListener("click", (event) => {
    const link = event.target.closest("a.conversation");
    if (!link) return;
    event.preventDefault();
    open(Number(link.dataset.id));
  });
  $("filters").addEventListener("change", () => {
    const form = new FormData($("filters"));
    state.view = form.get("view");
    state.account = form.get("account");
    poll();
  });
  for (const button of document.querySelectorAll("[data-show]")) {
    button.addEventListener("click", () => show(button.dataset.show));
  }

  const opened = Number(new URLSearchParams(location.search).get("c"));
  if (opened) open(opened).catch(() => history.replaceState(null, "", base));
  poll();
})();
