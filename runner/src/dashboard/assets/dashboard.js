// The dashboard's own script: the admin token (kept in this tab's
// sessionStorage only, sent as a bearer token), the buttons (they call the
// control API), the fleet's live view (server-sent events carrying the
// fleet section as the server renders it) and a tick's body, fetched with
// the token.
"use strict";

const TOKEN_KEY = "persona-runner-admin-token";

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders() {
  const value = token();
  return value ? { Authorization: "Bearer " + value } : {};
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function askForToken(why) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-message").textContent = why;
  document.getElementById("token").focus();
}

function showTokenState() {
  document.getElementById("login").hidden = !tokenMissing();
  document.getElementById("logout").hidden = token() === null;
}

function tokenMissing() {
  return document.body.dataset.tokenRequired === "true" && token() === null;
}

async function post(url) {
  if (tokenMissing()) {
    askForToken("This needs the runner's admin token.");
    return;
  }
  const response = await fetch(url, { method: "POST", headers: authHeaders() });
  if (response.status === 401) {
    askForToken("This needs the runner's admin token.");
    return;
  }
  const body = await response.json().catch(() => ({}));
  say(response.ok ? "Done: POST " + url : "Refused (" + response.status + "): " + (body.error || "no reason given"));
}

async function loadFragments() {
  for (const target of document.querySelectorAll("[data-fragment]")) {
    if (tokenMissing()) {
      target.textContent = "Reading a tick needs the runner's admin token.";
      askForToken("Reading a tick needs the runner's admin token.");
      continue;
    }
    const response = await fetch(target.dataset.fragment, { headers: authHeaders() });
    if (response.status === 401) {
      target.textContent = "Reading a tick needs the runner's admin token.";
      askForToken("Reading a tick needs the runner's admin token.");
      continue;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      target.textContent = "Could not load (" + response.status + "): " + (body.error || "no reason given");
      continue;
    }
    target.innerHTML = await response.text();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  showTokenState();
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    showTokenState();
    say("The token is kept for this tab only.");
    loadFragments();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    say("Token forgotten.");
  });
  // One listener for every button, those the live view brings in too.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-post]");
    if (button) {
      post(button.dataset.post);
    }
  });
  loadFragments();
  const fleet = document.getElementById("fleet");
  if (fleet) {
    const live = new EventSource("/ui/live");
    live.addEventListener("fleet", (event) => {
      fleet.innerHTML = event.data;
      fleet.dataset.updatedAt = new Date().toISOString();
    });
  }
});
