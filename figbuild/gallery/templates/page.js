(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card"));
  // j / k move between figures, as in many readers; ignored while typing.
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    if (event.key !== "j" && event.key !== "k") return;
    var at = cards.indexOf(document.activeElement && document.activeElement.closest ? document.activeElement.closest("article.card") : null);
    var next = event.key === "j" ? Math.min(at + 1, cards.length - 1) : Math.max(at - 1, 0);
    if (cards[next]) { cards[next].focus(); cards[next].scrollIntoView({block: "start"}); event.preventDefault(); }
  });
  var live = document.querySelector('meta[name="figbuild-version"]');
  if (!live || location.protocol === "file:") return;
  var version = live.content;
  var status = document.getElementById("status");
  function say(text, error) { status.textContent = text; status.className = error ? "status error" : "status"; }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    if (!button) return;
    var body = {figure: button.dataset.figure};
    if (button.dataset.k) body.k = Number(button.dataset.k);
    if (button.dataset.version) body.version = Number(button.dataset.version);
    button.disabled = true;
    say(button.textContent + ": working…");
    fetch("action/" + button.dataset.action, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      credentials: "same-origin",
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) { return {ok: response.ok, answer: answer}; });
    }).then(function (result) {
      button.disabled = false;
      say(result.ok ? result.answer.message : result.answer.error, !result.ok);
      if (result.ok) poll();
    }).catch(function (error) { button.disabled = false; say(String(error), true); });
  });
  // The page reloads itself when a figure, the lock or the manifest changes.
  function poll() {
    fetch("version", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (answer) {
      if (answer.version !== version) {
        sessionStorage.setItem("figbuild-status", status.textContent);
        location.reload();
      }
    }).catch(function () { say("the gallery server is not answering", true); });
  }
  var kept = sessionStorage.getItem("figbuild-status");
  if (kept) { say(kept); sessionStorage.removeItem("figbuild-status"); }
  setInterval(poll, 1000);
})();
