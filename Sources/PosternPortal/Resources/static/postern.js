// Postern portal: progressive enhancement only. Every page works without it,
// except adding or using a security key, which needs the WebAuthn API.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

const base64url = {
  encode(buffer) {
    let text = "";
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  },
};

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await response.json(); } catch { /* not JSON */ }
  if (data.redirect) { window.location.assign(data.redirect); throw new Error("redirecting"); }
  if (!response.ok) throw new Error(data.message || "Something went wrong. Try again.");
  return data;
}

function credentialJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: base64url.encode(r.clientDataJSON) };
  if (r.attestationObject) response.attestationObject = base64url.encode(r.attestationObject);
  if (r.authenticatorData) response.authenticatorData = base64url.encode(r.authenticatorData);
  if (r.signature) response.signature = base64url.encode(r.signature);
  if (r.userHandle) response.userHandle = base64url.encode(r.userHandle);
  return { id: credential.id, rawId: base64url.encode(credential.rawId), type: credential.type, response };
}

function say(message) {
  const status = document.getElementById("webauthn-status");
  if (status) status.textContent = message;
}

async function addSecurityKey() {
  const name = document.getElementById("key-name").value.trim();
  if (!name) { say("Give the key a name first."); document.getElementById("key-name").focus(); return; }
  try {
    say("Follow your browser's prompt…");
    const options = (await postJSON("/security/keys/options")).publicKey;
    options.challenge = base64url.decode(options.challenge);
    options.user.id = base64url.decode(options.user.id);
    options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: base64url.decode(c.id) }));
    const credential = await navigator.credentials.create({ publicKey: options });
    await postJSON("/security/keys", { name, credential: credentialJSON(credential) });
    window.location.assign("/security/two-step?done=key_added");
  } catch (error) {
    if (error.message !== "redirecting") say(error.name === "NotAllowedError" ? "The request was cancelled or timed out." : error.message);
  }
}

// Asks the server for a challenge, lets the browser sign it with a key, and
// posts the answer (with `extra` fields) to `answerURL`.
async function useKey(optionsURL, optionsBody, answerURL, extra) {
  try {
    say("Follow your browser's prompt…");
    const options = (await postJSON(optionsURL, optionsBody)).publicKey;
    options.challenge = base64url.decode(options.challenge);
    options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: base64url.decode(c.id) }));
    const credential = await navigator.credentials.get({ publicKey: options });
    await postJSON(answerURL, { ...extra, credential: credentialJSON(credential) });
  } catch (error) {
    if (error.message !== "redirecting") say(error.name === "NotAllowedError" ? "The request was cancelled or timed out." : error.message);
  }
}

function signInWithKey() {
  return useKey("/signin/verify/options", {}, "/signin/verify/key", {});
}

function resetWithKey() {
  const password = document.getElementById("new_password").value;
  const token = document.querySelector('input[name="token"]').value;
  if (!password) { say("Type the new password first."); document.getElementById("new_password").focus(); return; }
  return useKey("/reset/key/options", { token }, "/reset/key", { token, new_password: password });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.dataset.password || source.textContent.replace(/\s+/g, ""));
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy it by hand";
      }
    });
  }
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
  if (window.PublicKeyCredential) {
    for (const block of document.querySelectorAll("[data-webauthn-register], [data-webauthn-signin]")) block.hidden = false;
    document.getElementById("add-key")?.addEventListener("click", addSecurityKey);
    document.getElementById("use-key")?.addEventListener("click", signInWithKey);
    document.getElementById("reset-with-key")?.addEventListener("click", resetWithKey);
  }
});
