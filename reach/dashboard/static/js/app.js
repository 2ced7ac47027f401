// The dashboard: sign-in, the location chip, and four views that each subscribe to what
// they show. Data is rendered with textContent only; the token lives in sessionStorage.

import { ApiError, gql, login } from "./api.js";
import { Live } from "./ws.js";
import { campaignsView, overviewView, segmentsView } from "./views.js";
import { funnelView, trendView, volumeView } from "./analytics.js";

window.__errors = [];
addEventListener("error", (e) => window.__errors.push(String(e.message)));
addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));

const TOKEN = "reach.dashboard.token";
const EVENTS = "reach.dashboard.events";
const DEFAULT_EVENTS = ["Product Viewed", "Order Completed"];
const $ = (id) => document.getElementById(id);

const ME = `{ viewer { kind label role } workspace { id name timezone }
  locations(first: 100) { edges { node { id name code } } } }`;

let session = null; // {token, live, locations, disposers}

function chartedEvents() {
  const fromUrl = new URLSearchParams(location.search).get("events");
  const text = fromUrl || localStorage.getItem(EVENTS) || DEFAULT_EVENTS.join(", ");
  return text.split(",").map((s) => s.trim()).filter(Boolean).slice(0, 10);
}

function scopeFromUrl(locations) {
  const wanted = new URLSearchParams(location.search).get("location");
  if (!wanted) return null;
  return locations.find((l) => l.id === wanted || l.code === wanted) || null;
}

function showSignIn(message = "") {
  $("sign-in").hidden = false;
  $("views").hidden = true;
  for (const id of ["location-chip", "live-status", "sign-out", "scope"]) $(id).hidden = true;
  $("workspace").textContent = "";
  $("viewer").textContent = "";
  $("sign-in-error").textContent = message;
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN);
  if (session) {
    for (const dispose of session.disposers) dispose();
    session.live.close();
  }
  session = null;
  showSignIn(message);
}

// A request refused for the credentials ends the session; anything else is the panel's.
function onAuthError(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    signOut(error.message);
    return true;
  }
  return false;
}

function renderScope(scope) {
  const banner = $("scope");
  banner.hidden = false;
  banner.classList.toggle("all", !scope);
  banner.dataset.locationId = scope ? scope.id : "";
  banner.textContent = scope
    ? `Scope: ${scope.name} (${scope.code}) — every view shows this location only`
    : "Scope: all locations";
}

function renderViews() {
  for (const dispose of session.disposers) dispose();
  const scope = scopeFromUrl(session.locations);
  $("location").value = scope ? scope.id : "";
  renderScope(scope);
  const events = chartedEvents();
  $("events").value = events.join(", ");
  const ctx = {
    token: session.token, live: session.live, locationId: scope ? scope.id : null,
    events, onAuthError,
  };
  session.disposers = [overviewView, volumeView, segmentsView, campaignsView, trendView, funnelView].map(
    (view) => view(ctx),
  );
}

async function start(token) {
  let me;
  try {
    me = await gql(token, ME);
  } catch (error) {
    signOut(error.message);
    return;
  }
  sessionStorage.setItem(TOKEN, token);
  const status = $("live-status");
  const live = new Live(token, {
    onStatus: (state) => {
      status.hidden = false;
      status.className = `status ${state}`;
      status.textContent = state;
    },
  });
  const locations = me.locations.edges.map((e) => e.node);
  session = { token, live, locations, disposers: [] };
  $("sign-in").hidden = true;
  $("views").hidden = false;
  $("sign-out").hidden = false;
  $("workspace").textContent = me.workspace.name;
  $("viewer").textContent = `${me.viewer.label}${me.viewer.role ? ` · ${me.viewer.role}` : ""}`;
  const select = $("location");
  select.replaceChildren(new Option("All locations", ""));
  for (const l of locations) select.append(new Option(`${l.name} (${l.code})`, l.id));
  $("location-chip").hidden = false;
  renderViews();
}

function setLocation(id) {
  const url = new URL(location.href);
  if (id) url.searchParams.set("location", id);
  else url.searchParams.delete("location");
  history.replaceState(null, "", url);
  renderViews();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    await start(await login($("email").value, $("password").value));
  } catch (error) {
    $("sign-in-error").textContent = error.message;
  }
});

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  await start($("secret-key").value.trim());
  $("secret-key").value = "";
});

$("sign-out").addEventListener("click", () => signOut());
$("location").addEventListener("change", (event) => setLocation(event.target.value));
addEventListener("popstate", () => { if (session) renderViews(); });

$("events-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const names = $("events").value.split(",").map((s) => s.trim()).filter(Boolean);
  localStorage.setItem(EVENTS, names.join(", "));
  const url = new URL(location.href);
  url.searchParams.delete("events");
  history.replaceState(null, "", url);
  if (session) renderViews();
});

const saved = sessionStorage.getItem(TOKEN);
if (saved) start(saved);
else showSignIn();
