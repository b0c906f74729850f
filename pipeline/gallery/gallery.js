// The gallery: reads the public JSON documents (index.json, collections/<c>.json, items/<id>.json and their
// versions) and uploads through the HTTP API (presigned POST, then the upload's status). No build step.

const TOKEN_KEY = "gallery.token";
const POLL_MS = 1000;
const POLL_DEADLINE_MS = 120_000;
const REFRESH_MS = 3000;
const DOCUMENTS_WAIT_MS = 20_000;
const CARD_SIZES = "(max-width: 480px) 50vw, 220px";
const LARGE_SIZES = "(max-width: 720px) 100vw, 680px";

const $ = (id) => document.getElementById(id);
const config = { apiUrl: "", devTokenUrl: "", maxUploadBytes: 0 };
const state = {
  collections: [],
  selected: null,
  items: new Map(), // id -> listing entry, for the dialog
  uploading: false,
  newVersionOf: null, // item id while the form uploads a new version of it
  collectionEdited: false,
  opener: null,
};

/** An element with attributes (`text` sets its text) and children. Never innerHTML: titles are user data. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

function say(message) {
  $("status").textContent = message;
}

const here = (path) => new URL(path, document.baseURI).href;

async function getJson(url, { fresh = false } = {}) {
  const response = await fetch(url, fresh ? { cache: "no-store" } : {});
  if (!response.ok) {
    const error = new Error(`${url} answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeEl = (iso) => h("time", { datetime: iso, text: iso ? when.format(new Date(iso)) : "" });

/** `srcset` with width descriptors from a document's thumbnails (`[{width, url}]`). */
function srcset(thumbnails) {
  return thumbnails.map((t) => `${t.url} ${t.width}w`).join(", ");
}

function picture(thumbnails, alt, sizes, attrs = {}) {
  const sorted = [...(thumbnails || [])].sort((a, b) => a.width - b.width);
  if (!sorted.length) return h("div", { class: "no-thumb", text: "No preview" });
  const largest = sorted[sorted.length - 1];
  return h("img", {
    src: sorted[0].url,
    srcset: srcset(sorted),
    sizes,
    alt,
    width: largest.width,
    height: largest.height,
    loading: "lazy",
    decoding: "async",
    ...attrs,
  });
}

// --- sign-in ----------------------------------------------------------------------------------------------

/** The JWT's claims (unverified: only to show who is signed in; the API verifies). */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function token() {
  const value = sessionStorage.getItem(TOKEN_KEY);
  const payload = value && claims(value);
  if (!payload || (payload.exp && payload.exp * 1000 < Date.now())) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return value;
}

function showAccount() {
  const current = token();
  const signedIn = current !== null;
  $("signed-in").hidden = !signedIn;
  $("dev-sign-in").hidden = signedIn || !config.devTokenUrl;
  $("token-sign-in").hidden = signedIn || Boolean(config.devTokenUrl);
  $("signed-in-name").textContent = signedIn ? claims(current).sub || "(unnamed)" : "";
  $("upload-form").hidden = !signedIn;
  $("upload-signed-out").hidden = signedIn;
  $("new-version").hidden = !signedIn;
}

async function devSignIn(event) {
  event.preventDefault();
  const name = $("dev-name").value.trim();
  if (!name) return say("Type a name to sign in as.");
  try {
    const response = await fetch(config.devTokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sub: name, aud: "pipeline" }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message || body?.message || `status ${response.status}`);
    sessionStorage.setItem(TOKEN_KEY, body.access_token);
    showAccount();
    say(`Signed in as ${name}.`);
  } catch (error) {
    say(`Could not sign in: ${error.message}`);
  }
}

function tokenSignIn(event) {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!claims(value)) return say("That does not look like a JWT access token.");
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  showAccount();
  say("Signed in.");
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  showAccount();
  say("Signed out.");
}

// --- the API ----------------------------------------------------------------------------------------------

class ApiError extends Error {}

/** A call to the HTTP API with the bearer token; its error sentence on failure. */
async function api(method, url, body) {
  const current = token();
  if (!current) throw new ApiError("Your sign-in has expired: sign in again.");
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${current}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  const payload = await response.json().catch(() => null);
  if (response.ok) return payload;
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showAccount();
    throw new ApiError("The API did not accept your sign-in (Unauthorized): sign in again.");
  }
  throw new ApiError(payload?.error?.message || payload?.message || `The API answered ${response.status}.`);
}

/** The presigned POST: every field first, the file last; progress drives the bar. */
function postFile(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const xml = new DOMParser().parseFromString(xhr.responseText || "<x/>", "application/xml");
      const code = xml.querySelector("Code")?.textContent;
      const message = xml.querySelector("Message")?.textContent;
      reject(new ApiError(storageRefusal(code, message, xhr.status)));
    };
    xhr.onerror = () => reject(new ApiError("The upload could not reach the storage service."));
    xhr.send(form);
  });
}

function storageRefusal(code, message, status) {
  if (code === "EntityTooLarge") return `The file is larger than the ${mb(config.maxUploadBytes)} allowed.`;
  if (code === "AccessDenied" && /expired/i.test(message || "")) return "The upload link expired: try again.";
  return `The storage service refused the file (${code || status}${message ? `: ${message}` : ""}).`;
}

const mb = (bytes) => `${(bytes / 1_000_000).toFixed(bytes < 10_000_000 ? 1 : 0)} MB`;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForOutcome(statusUrl) {
  const deadline = Date.now() + POLL_DEADLINE_MS;
  while (Date.now() < deadline) {
    const status = await api("GET", statusUrl);
    if (status.state === "published" || status.state === "quarantined") return status;
    await pause(POLL_MS);
  }
  throw new ApiError("The upload is taking longer than expected: it will appear here once it is processed.");
}

// --- upload -----------------------------------------------------------------------------------------------

let chosenFile = null;

function chooseFile(file) {
  if (!file) return;
  chosenFile = file;
  $("file-name").textContent = `${file.name} (${mb(file.size)})`;
  if (!$("upload-title").value) $("upload-title").value = file.name.replace(/\.[^.]+$/, "");
  if (config.maxUploadBytes && file.size > config.maxUploadBytes) {
    say(`${file.name} is larger than the ${mb(config.maxUploadBytes)} allowed.`);
  }
}

function startNewVersion(item) {
  state.newVersionOf = item.id;
  $("new-version-of").hidden = false;
  $("new-version-title").textContent = item.title;
  $("upload-title").value = item.title;
  $("upload-collection").value = item.collection;
  $("upload-collection").disabled = true;
  $("item-dialog").close();
  $("choose-file").focus();
}

function endNewVersion() {
  state.newVersionOf = null;
  $("new-version-of").hidden = true;
  $("upload-collection").disabled = false;
  $("upload-collection").value = state.selected || "gallery";
}

function setProgress(label, fraction) {
  $("progress-box").hidden = false;
  $("progress-label").textContent = label;
  const bar = $("upload-progress");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = Math.round(fraction * 100);
}

async function submitUpload(event) {
  event.preventDefault();
  if (state.uploading) return;
  const title = $("upload-title").value.trim();
  const collection = $("upload-collection").value.trim();
  if (!chosenFile) return say("Choose a photo first.");
  if (!title) return say("Give the photo a title."), $("upload-title").focus();
  if (!$("upload-collection").checkValidity()) {
    return say("A collection is lower-case letters, digits and dashes."), $("upload-collection").focus();
  }
  if (config.maxUploadBytes && chosenFile.size > config.maxUploadBytes) {
    return say(`The file is larger than the ${mb(config.maxUploadBytes)} allowed.`);
  }
  const details = { title };
  for (const name of ["author", "category"]) {
    const value = $(`upload-${name}`).value.trim();
    if (value) details[name] = value;
  }
  state.uploading = true;
  $("upload-submit").disabled = true;
  $("outcome").replaceChildren();
  const refresher = setInterval(() => refresh(), REFRESH_MS);
  try {
    setProgress("Preparing the upload", null);
    const created = state.newVersionOf
      ? await api("PUT", `${config.apiUrl}items/${encodeURIComponent(state.newVersionOf)}`, details)
      : await api("POST", `${config.apiUrl}items`, { ...details, collection });
    setProgress(`Uploading ${chosenFile.name}`, 0);
    say(`Uploading ${chosenFile.name}…`);
    await postFile(created.upload, chosenFile, (f) => setProgress(`Uploading ${chosenFile.name}`, f));
    setProgress("Processing", null);
    say(`${chosenFile.name} uploaded; processing…`);
    // `status_url` is the API's own path (`/uploads/<id>/status`): resolved under apiUrl, whose stage it keeps.
    const statusPath = created.status_url || `uploads/${encodeURIComponent(created.id)}/status`;
    const statusUrl = new URL(statusPath.replace(/^\//, ""), config.apiUrl).href;
    const outcome = await waitForOutcome(statusUrl);
    $("progress-box").hidden = true;
    if (outcome.state === "published") {
      await showPublished(outcome, created, title);
    } else {
      showRefused(outcome);
    }
    chosenFile = null;
    $("file-name").textContent = "";
    $("file-input").value = "";
    $("upload-title").value = "";
    if (state.newVersionOf) endNewVersion();
  } catch (error) {
    $("progress-box").hidden = true;
    const message = error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`;
    $("outcome").replaceChildren(h("p", { class: "refused", "data-testid": "outcome-error", text: message }));
    say(message);
  } finally {
    clearInterval(refresher);
    state.uploading = false;
    $("upload-submit").disabled = false;
    await refresh();
  }
}

/** The outcome at once; then, when the public documents show the new version (the status can say
 * published a moment before they are written), its preview, and the listing with it. */
async function showPublished(outcome, created, title) {
  const url = outcome.public_url || created.public_url;
  const version = outcome.version ?? created.version;
  const text = `Published “${title}”, version ${version}.`;
  const box = h(
    "div",
    { class: "published", "data-testid": "outcome-published" },
    h("p", {}, text, " ", url ? h("a", { href: url, text: "JSON document" }) : null),
  );
  $("outcome").replaceChildren(box);
  say(text);
  state.selected = created.collection;
  const deadline = Date.now() + DOCUMENTS_WAIT_MS;
  let item = null;
  while (Date.now() < deadline) {
    item ??= await getJson(url, { fresh: true }).then(
      (doc) => (doc.version >= version ? doc : null),
      () => null,
    );
    await refresh();
    if (item && state.items.get(created.id)?.version >= version) break;
    await pause(POLL_MS);
  }
  if (item) box.prepend(picture(item.thumbnails, item.title, "120px", { loading: "eager" }));
}

function showRefused(outcome) {
  const text = `Refused: ${outcome.message || outcome.reason || "the file could not be published."}`;
  $("outcome").replaceChildren(
    h("p", { class: "refused", "data-testid": "outcome-refused", "data-reason": outcome.reason, text }),
  );
  say(text);
}

// --- listing ----------------------------------------------------------------------------------------------

async function refresh() {
  let index;
  try {
    index = await getJson(here("index.json"), { fresh: true });
  } catch {
    index = { collections: [] }; // nothing published yet
  }
  state.collections = index.collections || [];
  if (!state.collections.some((c) => c.name === state.selected)) {
    state.selected = state.collections[0]?.name ?? null;
  }
  renderCollections();
  if (!state.collectionEdited && !state.newVersionOf) $("upload-collection").value = state.selected || "gallery";
  const current = state.collections.find((c) => c.name === state.selected);
  if (!current) return renderItems([], "Nothing published yet.");
  try {
    const listing = await getJson(current.url || here(`collections/${current.name}.json`), { fresh: true });
    renderItems(listing.items || [], "This collection is empty.");
  } catch (error) {
    renderItems([], `Could not read the collection (${error.message}).`);
  }
}

function renderCollections() {
  const list = $("collections");
  // Rebuilt only when something changed: a periodic refresh must not take the keyboard focus away.
  const signature = JSON.stringify([state.selected, state.collections.map((c) => [c.name, c.count])]);
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  const focused = document.activeElement?.dataset?.name;
  list.replaceChildren(
    ...state.collections.map((c) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "collection",
            "data-testid": "collection",
            "data-name": c.name,
            "aria-pressed": String(c.name === state.selected),
          },
          h("span", { text: c.name }),
          h("span", { class: "count", text: String(c.count) }),
        ),
      ),
    ),
  );
  if (focused) list.querySelector(`[data-name="${CSS.escape(focused)}"]`)?.focus();
}

function renderItems(entries, emptyText) {
  $("empty").hidden = entries.length > 0;
  $("empty").textContent = emptyText;
  const grid = $("grid");
  const focused = document.activeElement?.closest?.("[data-id]")?.dataset.id;
  const existing = new Map([...grid.children].map((li) => [li.dataset.key, li]));
  const cards = entries.map((entry) => existing.get(`${entry.id}@${entry.version}`) || card(entry));
  state.items = new Map(entries.map((e) => [e.id, e]));
  const same = cards.length === grid.children.length && cards.every((c, i) => grid.children[i] === c);
  if (!same) grid.replaceChildren(...cards);
  if (focused) grid.querySelector(`[data-id="${CSS.escape(focused)}"] button`)?.focus();
}

/** One card: shown at once from the listing entry, then completed from the (immutable) version document. */
function card(entry) {
  const image = h("img", { src: entry.thumbnail, alt: entry.title, loading: "lazy", sizes: CARD_SIZES });
  if (!entry.thumbnail) image.hidden = true;
  const byline = h("span", { class: "meta", "data-testid": "card-meta" });
  byline.textContent = versionsText(entry.version);
  const li = h(
    "li",
    { "data-key": `${entry.id}@${entry.version}`, "data-id": entry.id, "data-testid": "card" },
    h(
      "button",
      { type: "button", class: "card", "aria-haspopup": "dialog" },
      h("span", { class: "thumb" }, image),
      h("span", { class: "title", "data-testid": "card-title", text: entry.title }),
      byline,
    ),
  );
  li.querySelector("button").addEventListener("click", (e) => openItem(entry, e.currentTarget));
  getJson(versionUrl(entry.url, entry.version))
    .then((version) => {
      if (version.thumbnails?.length) {
        image.srcset = srcset(version.thumbnails);
        image.hidden = false;
      }
      byline.textContent = [version.author && `by ${version.author}`, versionsText(entry.version)]
        .filter(Boolean)
        .join(" · ");
    })
    .catch(() => {}); // the card already shows the listing's thumbnail and title
  return li;
}

const versionsText = (n) => (n === 1 ? "1 version" : `${n} versions`);

/** `.../items/<id>.json` → `.../items/<id>/versions/<n>.json` (the documents' own layout). */
function versionUrl(itemUrl, n) {
  return itemUrl.replace(/\.json$/, `/versions/${n}.json`);
}

// --- item dialog ------------------------------------------------------------------------------------------

async function openItem(entry, opener) {
  state.opener = opener;
  const dialog = $("item-dialog");
  $("item-title").textContent = entry.title;
  $("item-meta").textContent = "";
  $("item-image").removeAttribute("srcset");
  $("item-image").src = entry.thumbnail || "";
  $("item-image").alt = entry.title;
  $("item-json").href = entry.url;
  $("versions").replaceChildren(h("li", { class: "loading", text: "Loading versions…" }));
  dialog.showModal();
  try {
    const item = await getJson(entry.url, { fresh: true });
    $("item-title").textContent = item.title;
    const sorted = [...item.thumbnails].sort((a, b) => a.width - b.width);
    if (sorted.length) {
      $("item-image").srcset = srcset(sorted);
      $("item-image").sizes = LARGE_SIZES;
      $("item-image").src = sorted[sorted.length - 1].url;
    }
    $("item-meta").textContent = [
      item.author && `by ${item.author}`,
      item.category,
      `${item.collection}`,
      `${item.image.width}×${item.image.height} ${item.image.format}`,
    ]
      .filter(Boolean)
      .join(" · ");
    $("new-version").onclick = () => startNewVersion(item);
    const urls = Array.from({ length: item.versions }, (_, i) => versionUrl(entry.url, item.versions - i));
    const versions = await Promise.all(urls.map((url) => getJson(url).catch(() => null)));
    $("versions").replaceChildren(...versions.filter(Boolean).map(versionRow));
  } catch (error) {
    $("versions").replaceChildren(h("li", { text: `Could not read the item (${error.message}).` }));
  }
}

function versionRow(version) {
  return h(
    "li",
    { class: "version", "data-testid": "version", "data-version": String(version.version) },
    picture(version.thumbnails, `${version.title}, version ${version.version}`, "96px"),
    h(
      "span",
      {},
      h("strong", { text: `Version ${version.version}` }),
      " · recorded ",
      timeEl(version.recorded_at),
      version.title ? ` · ${version.title}` : "",
      " · ",
      h("a", { href: version.links.self, text: "JSON" }),
    ),
  );
}

// --- start ------------------------------------------------------------------------------------------------

function wire() {
  $("dev-sign-in").addEventListener("submit", devSignIn);
  $("token-sign-in").addEventListener("submit", tokenSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("upload-form").addEventListener("submit", submitUpload);
  $("choose-file").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  $("upload-collection").addEventListener("input", () => (state.collectionEdited = true));
  $("new-version-cancel").addEventListener("click", endNewVersion);
  const zone = $("drop-zone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  });
  $("collections").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-name]");
    if (!button) return;
    state.selected = button.dataset.name;
    refresh();
  });
  const dialog = $("item-dialog");
  $("dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => e.target === dialog && dialog.close()); // the backdrop
  dialog.addEventListener("close", () => state.opener?.isConnected && state.opener.focus());
}

async function start() {
  wire();
  try {
    Object.assign(config, await getJson(here("gallery/config.json"), { fresh: true }));
  } catch {
    // no config: browse only
  }
  if (config.apiUrl && !config.apiUrl.endsWith("/")) config.apiUrl += "/";
  $("account").hidden = !config.apiUrl;
  $("upload").hidden = !config.apiUrl;
  showAccount();
  await refresh();
  document.body.dataset.ready = "true";
}

start();
