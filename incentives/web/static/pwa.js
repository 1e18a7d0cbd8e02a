// Installs the service worker (web/pwa.py) and drives the "push notifications on this device" switch.
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;
  const ready = navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready);

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
    } catch (error) {
      return "";
    }
  }

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
    });
  }

  function setUp(box) {
    if (!("PushManager" in window) || !("Notification" in window)) return;
    const on = box.querySelector("[data-push=on]");
    const off = box.querySelector("[data-push=off]");
    const status = box.querySelector("[data-push-status]");
    const show = (subscribed, message) => {
      on.hidden = subscribed;
      off.hidden = !subscribed;
      status.textContent = message || "";
    };
    box.hidden = false;
    ready
      .then((registration) => registration.pushManager.getSubscription())
      .then((subscription) => show(Boolean(subscription)));
    on.addEventListener("click", () => {
      Notification.requestPermission()
        .then((permission) => {
          if (permission !== "granted") throw new Error("denied");
          return ready;
        })
        .then((registration) =>
          registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: keyBytes(box.dataset.pushKey),
          })
        )
        .then((subscription) => post("/push/subscriptions", subscription.toJSON()))
        .then(() => show(true, box.dataset.msgOn))
        .catch((error) => show(false, error.message === "denied" ? box.dataset.msgDenied : box.dataset.msgFailed));
    });
    off.addEventListener("click", () => {
      ready
        .then((registration) => registration.pushManager.getSubscription())
        .then((subscription) =>
          subscription ? post("/push/subscriptions/delete", { endpoint: subscription.endpoint })
            .then(() => subscription.unsubscribe()) : null
        )
        .then(() => show(false, box.dataset.msgOff))
        .catch(() => show(true, box.dataset.msgFailed));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-push-key]").forEach(setUp);
  });
})();
