// Jamsostek Bot playground: renders the emulator's chats like a Telegram app and sends what the
// persona does (text, button presses, contact, photo...) to the playground's JSON API.
// Bot text is never inserted as HTML: it arrives as plain text plus Telegram entities and is
// rebuilt with DOM nodes, so nothing the bot (or a user) writes can run in this page.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const state = {
    persona: localStorage.getItem("playground.persona") || "",
    epoch: 0,
    seq: -1,
    seen: {}, // persona key -> change number of the latest bot message already looked at
    nodes: new Map(), // message_id -> {seq, node}
    personasSig: "",
    commands: [],
    keyboardSig: null,
    keyboardOpen: false,
    stick: true, // scroll to the bottom on the next render
    waitFrom: null, // change number after which a bot answer is awaited ("typing...")
    waitTimer: null,
    controller: null,
    online: true,
  };

  // ------------------------------------------------------------------ talking to the server

  async function api(path, body) {
    const options = { method: "POST", cache: "no-store" };
    if (body instanceof FormData) {
      options.body = body;
    } else {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok || !data || data.ok === false) {
      throw new Error((data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  async function act(action, body) {
    state.stick = true;
    startWaiting();
    try {
      return await api(`/api/chat/${encodeURIComponent(state.persona)}/${action}`, body);
    } catch (error) {
      stopWaiting();
      toast(error.message);
      return null;
    }
  }

  const sendText = (text) => act("send", { text });

  async function press(messageId, data, button) {
    button.classList.add("busy");
    const result = await act("press", { message_id: messageId, data });
    button.classList.remove("busy");
    // The bot has handled the press once it answered; a press may change nothing visible.
    if (result && state.waitFrom !== null) {
      clearTimeout(state.waitTimer);
      state.waitTimer = setTimeout(stopWaiting, 1500);
    }
    const answer = result && result.answer;
    if (answer && answer.text) {
      if (answer.show_alert) showAlert(answer.text);
      else toast(answer.text);
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function pollLoop() {
    for (;;) {
      const persona = state.persona;
      const controller = new AbortController();
      state.controller = controller;
      const params = new URLSearchParams({
        since: String(state.seq),
        epoch: String(state.epoch),
        wait: state.seq < 0 ? "0" : "25",
      });
      if (persona) params.set("persona", persona);
      try {
        const response = await fetch(`/api/state?${params}`, {
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 404 && persona) {
          state.persona = ""; // a persona remembered from another version of the playground
          continue;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const snapshot = await response.json();
        setOnline(true);
        if (persona === state.persona) apply(snapshot);
      } catch (error) {
        if (error.name === "AbortError") continue; // the persona was switched
        setOnline(false);
        await sleep(1000);
      }
    }
  }

  // ------------------------------------------------------------------ applying a snapshot

  function apply(snapshot) {
    if (snapshot.epoch !== state.epoch) {
      if (state.epoch) state.seen = {};
      state.epoch = snapshot.epoch;
      clearChat();
    }
    if (!state.persona) {
      state.persona = snapshot.persona;
    }
    if (snapshot.persona !== state.persona) return;
    const chat = snapshot.chat;
    const active = snapshot.personas.find((p) => p.key === state.persona);
    for (const p of snapshot.personas) {
      if (state.seen[p.key] === undefined || p.key === state.persona) state.seen[p.key] = p.last_seq;
    }
    renderPersonas(snapshot.personas);
    $("bot-name").textContent = snapshot.bot.name;
    $("persona-name").textContent = active ? `Anda: ${active.name}` : "";
    const box = $("messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const changed = renderMessages(chat.messages);
    renderKeyboard(chat);
    renderCommands(chat.commands);
    // After the keyboard, which takes room from the messages, so the last one stays in sight.
    if (changed && (state.stick || nearBottom)) scrollToBottom();
    if (changed) state.stick = false;
    if (state.waitFrom !== null) {
      const answered = chat.messages.some((m) => !m.outgoing && m.seq > state.waitFrom);
      if (answered) stopWaiting();
    }
    state.seq = snapshot.change_seq;
    updateStatus(snapshot.running);
  }

  function renderPersonas(personas) {
    const nav = $("personas");
    const sig = personas.map((p) => p.key).join(",");
    if (sig !== state.personasSig) {
      nav.replaceChildren();
      for (const p of personas) {
        // "Pekerja (Siti)" shows as a role over a name, so four tabs fit a phone's width.
        const parts = /^(.*?)\s*\((.*)\)$/.exec(p.label);
        const button = el("button");
        button.appendChild(el("span", "role", parts ? parts[1] : p.label));
        if (parts) button.appendChild(el("span", "who", parts[2]));
        button.type = "button";
        button.setAttribute("role", "tab");
        button.setAttribute("aria-label", p.label);
        button.dataset.persona = p.key;
        button.title = `${p.name} (Telegram id ${p.user_id})${p.admin ? ", admin" : ""}`;
        button.addEventListener("click", () => switchPersona(p.key));
        nav.appendChild(button);
      }
      state.personasSig = sig;
    }
    for (const p of personas) {
      const button = nav.querySelector(`[data-persona="${CSS.escape(p.key)}"]`);
      const selected = p.key === state.persona;
      button.setAttribute("aria-selected", selected ? "true" : "false");
      button.classList.toggle("unread", !selected && p.last_seq > (state.seen[p.key] || 0));
    }
  }

  function switchPersona(key) {
    if (key === state.persona) return;
    state.persona = key;
    localStorage.setItem("playground.persona", key);
    state.seq = -1;
    clearChat();
    hidePopups();
    stopWaiting();
    renderPersonas(
      Array.from($("personas").children).map((b) => ({
        key: b.dataset.persona,
        last_seq: state.seen[b.dataset.persona] || 0,
      })),
    );
    if (state.controller) state.controller.abort();
  }

  function clearChat() {
    for (const { node } of state.nodes.values()) node.remove();
    state.nodes.clear();
    state.keyboardSig = null;
    state.stick = true;
    $("empty").hidden = false;
    $("reply-keyboard").hidden = true;
    $("keyboard-button").hidden = true;
    $("menu-button").hidden = true;
  }

  function scrollToBottom() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  // Returns whether anything was added, changed or removed.
  function renderMessages(messages) {
    const box = $("messages");
    const present = new Set();
    let changed = false;
    for (const message of messages) {
      present.add(message.message_id);
      const known = state.nodes.get(message.message_id);
      if (known && known.seq === message.seq) continue;
      const node = renderMessage(message);
      if (known) {
        known.node.replaceWith(node); // an edit: same place, new content
        node.classList.add("flash");
      } else {
        box.appendChild(node);
      }
      state.nodes.set(message.message_id, { seq: message.seq, node });
      changed = true;
    }
    for (const [id, entry] of state.nodes) {
      if (!present.has(id)) {
        entry.node.remove(); // deleted by the bot
        state.nodes.delete(id);
      }
    }
    $("empty").hidden = state.nodes.size > 0;
    return changed;
  }

  // ------------------------------------------------------------------ one message

  function renderMessage(m) {
    const wrap = el("div", `msg ${m.outgoing ? "out" : "in"}`);
    wrap.dataset.id = String(m.message_id);
    wrap.dataset.kind = m.kind;
    const bubble = el("div", "bubble");
    const file = m.file || null;
    const caption = m.caption !== undefined ? m.caption : null;

    if (m.kind === "sticker" && file) {
      wrap.classList.add("sticker-msg");
      bubble.appendChild(el("div", "sticker", file.emoji || "🖼"));
    } else if (m.kind === "photo" && file) {
      const figure = el("div", "photo");
      const img = el("img");
      img.src = `/files/${encodeURIComponent(file.file_id)}`;
      img.alt = "Foto";
      img.width = file.width || 160;
      img.height = file.height || 120;
      img.addEventListener("load", () => {
        const box = $("messages");
        if (box.scrollHeight - box.scrollTop - box.clientHeight < img.height + 80) scrollToBottom();
      });
      figure.appendChild(img);
      bubble.appendChild(figure);
    } else if (m.kind === "document" && file) {
      bubble.appendChild(documentLink(file));
    } else if (m.kind === "voice" && file) {
      const card = el("div", "card");
      card.appendChild(el("div", "file-icon", "▶"));
      const info = el("div");
      info.appendChild(el("div", "voice-bar"));
      info.appendChild(el("div", "file-size", `Pesan suara · 0:${String(m.voice.duration).padStart(2, "0")}`));
      card.appendChild(info);
      bubble.appendChild(card);
    } else if (m.kind === "contact" && m.contact) {
      const card = el("div", "card");
      card.appendChild(el("div", "file-icon", "☎"));
      const info = el("div");
      const name = [m.contact.first_name, m.contact.last_name].filter(Boolean).join(" ");
      info.appendChild(el("div", "file-name", name || "Kontak"));
      info.appendChild(el("div", "file-size", `+${m.contact.phone_number.replace(/^\+/, "")}`));
      card.appendChild(info);
      bubble.appendChild(card);
    } else if (m.kind === "location" && m.location) {
      const card = el("div", "card");
      card.appendChild(el("div", "file-icon", "◎"));
      const info = el("div");
      info.appendChild(el("div", "file-name", "Lokasi"));
      info.appendChild(
        el("div", "file-size", `${m.location.latitude.toFixed(4)}, ${m.location.longitude.toFixed(4)}`),
      );
      card.appendChild(info);
      bubble.appendChild(card);
    }

    const text = m.text !== undefined ? m.text : caption;
    const entities = m.text !== undefined ? m.entities : m.caption_entities;
    const meta = el("span", "meta");
    if (m.edit_date) meta.appendChild(el("span", "edited", "diedit"));
    meta.appendChild(document.createTextNode(clock(m.date)));
    if (text) {
      const body = el("div", m.text !== undefined ? "text" : "text caption");
      renderRich(body, text, entities || []);
      body.appendChild(meta);
      bubble.appendChild(body);
    } else {
      bubble.appendChild(meta);
    }
    wrap.appendChild(bubble);

    const rows = m.reply_markup && m.reply_markup.inline_keyboard;
    if (rows && rows.length) wrap.appendChild(inlineKeyboard(m.message_id, rows));
    return wrap;
  }

  function documentLink(file) {
    const link = el("a", "file");
    link.href = `/files/${encodeURIComponent(file.file_id)}?download=1`;
    link.download = file.name || "file";
    const extension = (file.name || "").split(".").pop();
    link.appendChild(el("div", "file-icon", extension && extension.length <= 4 ? extension.toUpperCase() : "FILE"));
    const info = el("div");
    info.appendChild(el("div", "file-name", file.name || "file"));
    info.appendChild(el("div", "file-size", `${size(file.size)} · unduh`));
    link.appendChild(info);
    return link;
  }

  function inlineKeyboard(messageId, rows) {
    const keyboard = el("div", "inline-keyboard");
    for (const row of rows) {
      const line = el("div", "row");
      for (const b of row) {
        if (typeof b.callback_data === "string") {
          const button = el("button", "", b.text);
          button.type = "button";
          button.dataset.callback = b.callback_data;
          button.addEventListener("click", () => press(messageId, b.callback_data, button));
          line.appendChild(button);
        } else if (typeof b.url === "string" && /^https?:\/\//i.test(b.url)) {
          const link = el("a", "", b.text);
          link.href = b.url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          line.appendChild(link);
        } else {
          const button = el("button", "", b.text);
          button.type = "button";
          button.disabled = true;
          button.title = "Tidak tersedia di playground";
          line.appendChild(button);
        }
      }
      keyboard.appendChild(line);
    }
    return keyboard;
  }

  // ------------------------------------------------------------------ formatted text

  const BLOCKS = new Set(["pre", "blockquote", "expandable_blockquote"]);
  const AUTO = /(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'»])|((?<![\w/.:])\/[A-Za-z][A-Za-z0-9_]{0,31}(?![\w/]))/g;

  function renderRich(parent, text, entities) {
    const list = entities
      .filter((e) => e.length > 0)
      .slice()
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    build(parent, text, 0, text.length, list, true);
  }

  // Entities from Telegram nest (the HTML parser guarantees it); an entity that overlaps the
  // end of its parent is cut there. Offsets are UTF-16 units, exactly what JS strings index.
  function build(parent, text, start, end, list, plain) {
    let pos = start;
    let i = 0;
    let afterBlock = false;
    while (i < list.length) {
      const e = list[i];
      if (e.offset < pos || e.offset >= end) {
        i += 1;
        continue;
      }
      const stop = Math.min(e.offset + e.length, end);
      if (e.offset > pos) appendPlain(parent, dropNewline(text.slice(pos, e.offset), afterBlock), plain);
      const inner = [];
      let j = i + 1;
      while (j < list.length && list[j].offset < stop) {
        inner.push(list[j]);
        j += 1;
      }
      const node = entityNode(e, text.slice(e.offset, stop));
      parent.appendChild(node.outer);
      build(node.inner, text, e.offset, stop, inner, plain && node.plain);
      afterBlock = BLOCKS.has(e.type);
      pos = stop;
      i = j;
    }
    if (pos < end) appendPlain(parent, dropNewline(text.slice(pos, end), afterBlock), plain);
  }

  // A block (quote, code block) already ends its line; the newline after it would add a gap.
  const dropNewline = (chunk, afterBlock) => (afterBlock && chunk.startsWith("\n") ? chunk.slice(1) : chunk);

  function appendPlain(parent, chunk, plain) {
    if (!chunk) return;
    if (!plain) {
      parent.appendChild(document.createTextNode(chunk));
      return;
    }
    // Telegram links URLs and /commands the sender did not mark up; so does the page.
    let last = 0;
    for (const match of chunk.matchAll(AUTO)) {
      if (match.index > last) parent.appendChild(document.createTextNode(chunk.slice(last, match.index)));
      parent.appendChild(match[1] ? linkNode(match[0], match[0]) : commandNode(match[0]));
      last = match.index + match[0].length;
    }
    if (last < chunk.length) parent.appendChild(document.createTextNode(chunk.slice(last)));
  }

  function linkNode(url, label) {
    const safe = /^(https?:|mailto:|tel:)/i.test(url);
    const node = el(safe ? "a" : "span", "", label);
    if (safe) {
      node.href = url;
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    }
    return node;
  }

  function commandNode(command) {
    const node = el("span", "cmd", command);
    node.setAttribute("role", "link");
    node.addEventListener("click", () => sendText(command.split("@")[0]));
    return node;
  }

  function entityNode(e, slice) {
    const simple = { bold: "b", italic: "i", underline: "u", strikethrough: "s" };
    if (simple[e.type]) {
      const node = el(simple[e.type]);
      return { outer: node, inner: node, plain: true };
    }
    switch (e.type) {
      case "spoiler": {
        const node = el("span", "spoiler");
        node.title = "Klik untuk membuka";
        node.addEventListener("click", () => node.classList.add("revealed"));
        return { outer: node, inner: node, plain: true };
      }
      case "code": {
        const node = el("code");
        return { outer: node, inner: node, plain: false };
      }
      case "pre": {
        const outer = el("pre");
        if (e.language) outer.dataset.language = e.language;
        const inner = el("code");
        outer.appendChild(inner);
        return { outer, inner, plain: false };
      }
      case "blockquote":
      case "expandable_blockquote": {
        const node = el("blockquote", e.type === "expandable_blockquote" ? "expandable" : "");
        if (e.type === "expandable_blockquote") {
          node.addEventListener("click", () => node.classList.toggle("open"));
        }
        return { outer: node, inner: node, plain: true };
      }
      case "text_link": {
        const node = linkNode(String(e.url || ""), "");
        return { outer: node, inner: node, plain: false };
      }
      case "url": {
        const node = linkNode(/^[a-z]+:/i.test(slice) ? slice : `http://${slice}`, "");
        return { outer: node, inner: node, plain: false };
      }
      case "email": {
        const node = linkNode(`mailto:${slice}`, "");
        return { outer: node, inner: node, plain: false };
      }
      case "phone_number": {
        const node = linkNode(`tel:${slice.replace(/[^\d+]/g, "")}`, "");
        return { outer: node, inner: node, plain: false };
      }
      case "bot_command": {
        const node = commandNode(slice);
        node.textContent = "";
        return { outer: node, inner: node, plain: false };
      }
      default: {
        const node = el("span", `entity-${String(e.type).replace(/[^a-z_]/g, "")}`);
        return { outer: node, inner: node, plain: false };
      }
    }
  }

  // ------------------------------------------------------------------ keyboards, menu, attach

  function renderKeyboard(chat) {
    const markup = chat.reply_keyboard && chat.reply_keyboard.keyboard ? chat.reply_keyboard : null;
    const sig = JSON.stringify([markup, chat.reply_keyboard_hidden]);
    const panel = $("reply-keyboard");
    if (sig !== state.keyboardSig) {
      state.keyboardSig = sig;
      state.keyboardOpen = Boolean(markup) && !chat.reply_keyboard_hidden;
      panel.replaceChildren();
      for (const row of markup ? markup.keyboard : []) {
        const line = el("div", "row");
        for (const b of row) {
          const button = el("button", "", b.text);
          button.type = "button";
          if (b.request_contact || b.request_location) button.classList.add("request");
          button.addEventListener("click", () => replyButton(b, markup));
          line.appendChild(button);
        }
        panel.appendChild(line);
      }
      $("text").placeholder = (markup && markup.input_field_placeholder) || "Tulis pesan…";
    }
    $("keyboard-button").hidden = !markup;
    $("keyboard-button").classList.toggle("on", state.keyboardOpen);
    panel.hidden = !state.keyboardOpen;
  }

  function replyButton(b, markup) {
    if (markup.one_time_keyboard) {
      state.keyboardOpen = false;
      $("reply-keyboard").hidden = true;
    }
    if (b.request_contact) act("contact", {});
    else if (b.request_location) act("location", {});
    else if (b.request_users || b.request_chat || b.request_poll || b.web_app) {
      toast("Tombol jenis ini belum didukung playground.");
    } else sendText(b.text);
  }

  function renderCommands(commands) {
    state.commands = commands || [];
    $("menu-button").hidden = state.commands.length === 0;
  }

  function showCommands(filter) {
    const list = $("command-list");
    const wanted = (filter || "").toLowerCase();
    const shown = state.commands.filter(([name]) => name.startsWith(wanted));
    list.replaceChildren();
    for (const [name, description] of shown) {
      const button = el("button");
      button.type = "button";
      button.dataset.command = name;
      button.appendChild(el("span", "name", `/${name}`));
      button.appendChild(el("span", "description", description));
      button.addEventListener("click", () => {
        hidePopups();
        $("text").value = "";
        resizeInput();
        sendText(`/${name}`);
      });
      list.appendChild(button);
    }
    list.hidden = shown.length === 0;
  }

  function hidePopups() {
    $("command-list").hidden = true;
    $("attach-list").hidden = true;
  }

  async function attach(kind) {
    hidePopups();
    if (kind === "document") {
      $("file-input").click();
      return;
    }
    if (kind === "sticker") {
      const stickers = ["👍", "😊", "🙏", "👋"];
      await act("sticker", { emoji: stickers[Math.floor(Math.random() * stickers.length)] });
      return;
    }
    await act(kind, {});
  }

  // ------------------------------------------------------------------ small things

  function clock(seconds) {
    const date = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function size(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  let toastTimer = null;
  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      node.hidden = true;
    }, Math.min(6000, 2000 + text.length * 40));
  }

  function showAlert(text) {
    $("alert-text").textContent = text;
    $("alert").hidden = false;
    $("alert-ok").focus();
  }

  function startWaiting() {
    state.waitFrom = state.seq;
    clearTimeout(state.waitTimer);
    state.waitTimer = setTimeout(stopWaiting, 10000);
    updateStatus(true);
  }

  function stopWaiting() {
    state.waitFrom = null;
    clearTimeout(state.waitTimer);
    updateStatus(true);
  }

  function setOnline(online) {
    if (online === state.online) return;
    state.online = online;
    updateStatus(true);
  }

  function updateStatus(running) {
    const status = $("status");
    let text = "bot";
    if (!state.online) text = "menyambung ulang…";
    else if (!running) text = "memulai ulang…";
    else if (state.waitFrom !== null) text = "mengetik…";
    status.textContent = text;
    status.classList.toggle("busy", text !== "bot");
  }

  function resizeInput() {
    const input = $("text");
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    const input = $("text");
    $("send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      resizeInput();
      hidePopups();
      sendText(text);
      input.focus();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("send-form").requestSubmit();
      } else if (event.key === "Escape") {
        hidePopups();
      }
    });
    input.addEventListener("input", () => {
      resizeInput();
      const value = input.value;
      if (/^\/[A-Za-z0-9_]*$/.test(value) && state.commands.length) showCommands(value.slice(1));
      else $("command-list").hidden = true;
    });
    $("menu-button").addEventListener("click", () => {
      const list = $("command-list");
      $("attach-list").hidden = true;
      if (list.hidden) showCommands("");
      else list.hidden = true;
    });
    $("attach-button").addEventListener("click", () => {
      $("command-list").hidden = true;
      $("attach-list").hidden = !$("attach-list").hidden;
    });
    for (const button of document.querySelectorAll("[data-attach]")) {
      button.addEventListener("click", () => attach(button.dataset.attach));
    }
    $("file-input").addEventListener("change", async () => {
      const chosen = $("file-input").files[0];
      $("file-input").value = "";
      if (!chosen) return;
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      await act("document", form);
    });
    $("keyboard-button").addEventListener("click", () => {
      const box = $("messages");
      const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      state.keyboardOpen = !state.keyboardOpen;
      $("reply-keyboard").hidden = !state.keyboardOpen;
      $("keyboard-button").classList.toggle("on", state.keyboardOpen);
      if (nearBottom) scrollToBottom();
    });
    $("start").addEventListener("click", () => sendText("/start"));
    $("alert-ok").addEventListener("click", () => {
      $("alert").hidden = true;
    });
    $("messages").addEventListener("click", hidePopups);
    $("reset").addEventListener("click", async () => {
      const sure = window.confirm(
        "Reset playground?\nDatabase playground dihapus dan semua chat dikosongkan (semua persona).",
      );
      if (!sure) return;
      $("status").textContent = "mereset…";
      try {
        await api("/api/reset", {});
        toast("Playground direset: database dan chat kosong.");
      } catch (error) {
        toast(error.message);
      }
    });
    pollLoop();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
