// ExecutionsTable front end: renders the page of rows the kernel sends, ticks durations locally,
// and sends filter changes (traits) and row-menu actions (custom messages) back.

const ACTIVE = new Set(["created", "pending", "rerun", "in-progress"]);
const ENDED = new Set(["success", "failed", "aborted", "terminated"]);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function duration(row, now) {
  if (!row.started_at) return "-";
  const secs = Math.max(0, Math.floor((row.ended_at || now) - row.started_at));
  const pad = (n) => String(n).padStart(2, "0");
  return `${Math.floor(secs / 3600)}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
}

function pageConfig() {
  try {
    return JSON.parse(document.getElementById("jupyter-config-data")?.textContent || "{}");
  } catch {
    return {};
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

// the "rerun" status is a retry the service queued by itself; "Run again" makes a new execution
const STATUS_LABELS = { rerun: "rerun (retry queued)" };

const MENU = [
  ["copy-model", "Copy Model ID"],
  ["copy-execution", "Copy Execution ID"],
  ["abort", "Abort"],
  ["remove", "Remove"],
  ["rerun", "Run again (new execution)"],
  ["open", "Open notebook"],
  ["logs", "Show logs"],
];

function enabled(action, row) {
  if (action === "abort") return ACTIVE.has(row.status);
  if (action === "remove" || action === "rerun") return ENDED.has(row.status);
  if (action === "open") return Boolean(row.notebook);
  return true;
}

function render({ model, el }) {
  el.classList.add("mm-executions");
  el.innerHTML = `
    <div class="mm-toolbar">
      <input class="mm-search" type="search" placeholder="Search model name or id" />
      <select class="mm-status"></select>
      <span class="mm-service-chip" hidden></span>
      <span class="mm-message"></span>
    </div>
    <div class="mm-error-banner" hidden></div>
    <table class="mm-grid">
      <thead><tr><th>Name</th><th>Created at</th><th>Status</th><th>Progress</th><th>Duration</th>
        <th>Service</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <div class="mm-pager">
      <button class="mm-prev" title="Previous page">‹</button>
      <span class="mm-range"></span>
      <button class="mm-next" title="Next page">›</button>
    </div>
    <div class="mm-menu" hidden></div>
    <div class="mm-panel" hidden><div class="mm-panel-head"><b class="mm-panel-title"></b>
      <button class="mm-panel-close" title="Close">×</button></div><pre class="mm-panel-body"></pre></div>`;
  const $ = (sel) => el.querySelector(sel);
  const search = $(".mm-search"), status = $(".mm-status"), tbody = $("tbody");
  const menu = $(".mm-menu"), panel = $(".mm-panel");
  let offset = 0; // server clock minus browser clock, seconds
  let menuRow = null;

  const set = (changes) => {
    for (const [k, v] of Object.entries(changes)) model.set(k, v);
    model.save_changes();
  };

  function drawFilters() {
    const current = model.get("status");
    status.innerHTML = [`<option value="">All statuses</option>`]
      .concat(model.get("statuses").map((s) => `<option value="${esc(s)}">${esc(STATUS_LABELS[s] || s)}</option>`)).join("");
    status.value = current;
    if (document.activeElement !== search) search.value = model.get("search");
    const service = model.get("service");
    const chip = $(".mm-service-chip");
    chip.hidden = !service;
    chip.innerHTML = service ? `service: ${esc(service)} <button title="Show every service">×</button>` : "";
  }

  function healthIcon(row) {
    if (row.health === "error") return `<span class="mm-health mm-health-error" title="${esc(row.health_reason)}">⛔</span>`;
    if (row.health === "warning") return `<span class="mm-health mm-health-warning" title="${esc(row.health_reason)}">⚠️</span>`;
    return "";
  }

  function drawRows() {
    const now = Date.now() / 1000 + offset;
    const rows = model.get("rows");
    if (!rows.length) {
      tbody.innerHTML = `<tr><td colspan="7" class="mm-empty">No executions</td></tr>`;
    } else {
      tbody.innerHTML = rows.map((row, i) => {
        const pct = Math.max(0, Math.min(100, row.progress || 0));
        const reason = row.health !== "ok" ? `<div class="mm-reason">${esc(row.health_reason)}</div>` : "";
        return `<tr data-i="${i}" data-id="${esc(row.id)}" data-status="${esc(row.status)}">
          <td class="mm-name" title="${esc(row.id)}">${esc(row.name)}<div class="mm-sub">${esc(row.id)} · ${esc(row.model_name)}</div></td>
          <td>${esc(row.created)}</td>
          <td><span class="mm-badge mm-s-${esc(row.status)}" title="${esc(row.error)}">${esc(row.status)}</span>${row.attempts > 1 ? `<span class="mm-sub"> ×${row.attempts}</span>` : ""}</td>
          <td><div class="mm-bar"><div style="width:${pct}%"></div></div><span class="mm-pct">${pct.toFixed(0)}%</span></td>
          <td class="mm-duration" data-i="${i}">${duration(row, now)}</td>
          <td>${healthIcon(row)}<a class="mm-service" data-service="${esc(row.service)}" title="Show this service's executions">${esc(row.service)}</a>${reason}</td>
          <td><button class="mm-kebab" data-i="${i}" title="Actions">⋮</button></td>
        </tr>`;
      }).join("");
    }
    const total = model.get("total"), size = model.get("page_size"), page = model.get("page");
    const first = total ? page * size + 1 : 0;
    $(".mm-range").textContent = `${first.toLocaleString()}–${Math.min(total, (page + 1) * size).toLocaleString()} of ${total.toLocaleString()}`;
    $(".mm-prev").disabled = page <= 0;
    $(".mm-next").disabled = (page + 1) * size >= total;
  }

  function tick() {
    const now = Date.now() / 1000 + offset;
    const rows = model.get("rows");
    for (const cell of el.querySelectorAll(".mm-duration")) {
      const row = rows[Number(cell.dataset.i)];
      if (row && row.started_at && !row.ended_at) cell.textContent = duration(row, now);
    }
  }

  function showPanel(title, text) {
    $(".mm-panel-title").textContent = title;
    $(".mm-panel-body").textContent = text;
    panel.hidden = false;
  }

  function openMenu(button, row) {
    menuRow = row;
    menu.innerHTML = MENU.map(([action, label]) =>
      `<button data-action="${action}" ${enabled(action, row) ? "" : "disabled"}>${label}</button>`).join("");
    menu.hidden = false;
    const box = el.getBoundingClientRect(), b = button.getBoundingClientRect();
    const top = b.bottom - box.top;
    menu.style.top = `${top}px`;
    menu.style.right = `${box.right - b.right}px`;
    // the output area clips overflow: make room below the last rows while the menu is open
    el.style.minHeight = `${top + menu.offsetHeight + 4}px`;
  }

  function closeMenu() {
    menu.hidden = true;
    el.style.minHeight = "";
  }

  async function runAction(action, row) {
    closeMenu();
    if (action === "copy-model" || action === "copy-execution") {
      const text = action === "copy-model" ? row.model_id : row.id;
      const ok = await copyText(text);
      $(".mm-message").textContent = ok ? `copied ${text}` : `copy failed: ${text}`;
      return;
    }
    if ((action === "abort" || action === "remove") && !window.confirm(`${action} ${row.id}?`)) return;
    model.send({ action, id: row.id });
  }

  search.addEventListener("input", () => {
    clearTimeout(search._timer);
    search._timer = setTimeout(() => set({ search: search.value, page: 0 }), 250);
  });
  status.addEventListener("change", () => set({ status: status.value, page: 0 }));
  $(".mm-service-chip").addEventListener("click", (e) => {
    if (e.target.tagName === "BUTTON") set({ service: "", page: 0 });
  });
  $(".mm-prev").addEventListener("click", () => set({ page: Math.max(0, model.get("page") - 1) }));
  $(".mm-next").addEventListener("click", () => set({ page: model.get("page") + 1 }));
  $(".mm-panel-close").addEventListener("click", () => { panel.hidden = true; });
  tbody.addEventListener("click", (e) => {
    const kebab = e.target.closest(".mm-kebab");
    if (kebab) {
      e.stopPropagation();
      openMenu(kebab, model.get("rows")[Number(kebab.dataset.i)]);
      return;
    }
    const link = e.target.closest(".mm-service");
    if (link) set({ service: link.dataset.service, page: 0 });
  });
  menu.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button && menuRow) runAction(button.dataset.action, menuRow);
  });
  const onDocumentClick = (e) => { if (!menu.hidden && !menu.contains(e.target)) closeMenu(); };
  document.addEventListener("click", onDocumentClick);

  const onRows = () => {
    offset = model.get("server_time") - Date.now() / 1000;
    drawRows();
  };
  const onError = () => {
    const banner = $(".mm-error-banner");
    banner.textContent = model.get("error") ? `⛔ ${model.get("error")}` : "";
    banner.hidden = !model.get("error");
  };
  const onMessage = () => { $(".mm-message").textContent = model.get("message"); };
  const onCustom = (msg) => {
    if (msg.type === "logs") showPanel(`Logs of ${msg.id}`, msg.text);
    if (msg.type === "open") {
      const config = pageConfig();
      const root = (config.serverRoot || "").replace(/\/+$/, "");
      if (msg.exists && root && msg.path.startsWith(root + "/")) {
        const rel = msg.path.slice(root.length + 1).split("/").map(encodeURIComponent).join("/");
        window.open(`${config.baseUrl || "/"}lab/tree/${rel}`, "_blank");
      } else {
        showPanel(`Notebook of ${msg.id}`, msg.exists
          ? `${msg.path}\n(outside the Jupyter root: open it from a server started above it)`
          : `${msg.path}\n(not written yet)`);
      }
    }
  };
  const listeners = [
    ["change:rows", onRows],
    ["change:total", drawRows],
    ["change:error", onError],
    ["change:message", onMessage],
    ["change:search change:status change:service change:statuses", drawFilters],
    ["msg:custom", onCustom],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);
  drawFilters();
  onRows();
  onError();
  onMessage();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    document.removeEventListener("click", onDocumentClick);
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
