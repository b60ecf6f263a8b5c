// Copy buttons and click-to-reveal for blocked remote content. No inline script:
// the Content-Security-Policy allows scripts from /static/ only.
document.addEventListener("click", function (ev) {
  var t = ev.target;
  if (!(t instanceof Element)) return;
  var copy = t.closest("button.copy");
  if (copy) {
    var v = copy.getAttribute("data-copy") || "";
    if (navigator.clipboard) {
      navigator.clipboard.writeText(v).then(function () { copy.textContent = "Copied"; });
    }
    return;
  }
  var blocked = t.closest("[data-blocked-src], [data-blocked-href]");
  if (blocked && blocked.closest(".html-body")) {
    ev.preventDefault();
    var url = blocked.getAttribute("data-blocked-href") || blocked.getAttribute("data-blocked-src") || "";
    if (!/^https?:\/\//i.test(url)) { alert("Blocked: " + url); return; }
    if (blocked.nextSibling && blocked.nextSibling.className === "revealed") return;
    // Show the destination as a link the analyst opens on purpose, without a referrer.
    var a = document.createElement("a");
    a.className = "revealed";
    a.href = url;
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
    a.textContent = " [open " + url + "] ";
    blocked.parentNode.insertBefore(a, blocked.nextSibling);
  }
});

// The queue: keyboard navigation (j/k move, o or Enter opens, x ticks, / searches)
// and a notice when new cases arrive (polled, 304 while nothing changed).
(function () {
  var table = document.getElementById("queue");
  if (!table) return;
  var rows = function () { return Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-case]")); };
  var current = -1;
  function focusRow(i) {
    var list = rows();
    if (!list.length) return;
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (r, n) { r.classList.toggle("focused", n === current); });
    var link = list[current].querySelector("a.case-link");
    if (link) link.focus({ preventScroll: true });
    list[current].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    var typing = t instanceof Element && (t.closest("input, textarea, select") || t.isContentEditable);
    if (typing) {
      if (ev.key === "Escape" && t.blur) t.blur();
      return;
    }
    var list = rows();
    if (ev.key === "j") { focusRow(current + 1); ev.preventDefault(); }
    else if (ev.key === "k") { focusRow(current < 0 ? 0 : current - 1); ev.preventDefault(); }
    else if ((ev.key === "o" || ev.key === "Enter") && current >= 0 && list[current]) {
      var a = list[current].querySelector("a.case-link");
      if (a) { window.location.href = a.getAttribute("href"); ev.preventDefault(); }
    } else if (ev.key === "x" && current >= 0 && list[current]) {
      var box = list[current].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; ev.preventDefault(); }
    } else if (ev.key === "/") {
      var q = document.querySelector("#filters input[name=q]");
      if (q) { q.focus(); q.select(); ev.preventDefault(); }
    }
  });

  var newest = parseInt(table.getAttribute("data-newest") || "0", 10);
  var notice = document.getElementById("new-cases");
  var link = document.getElementById("new-cases-link");
  if (!notice || !link || !window.fetch) return;
  var etag = null;
  var every = parseInt(table.getAttribute("data-poll-ms") || "20000", 10);
  function poll() {
    // A background request: it does not restart the session's idle clock.
    var headers = { "X-IGW-Background": "1" };
    if (etag) headers["If-None-Match"] = etag;
    fetch("/cases/newer?after=" + newest, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 304 || !r.ok) return null;
        etag = r.headers.get("ETag");
        return r.json();
      })
      .then(function (j) {
        if (!j || !j["new"]) return;
        link.textContent = j["new"] === 1 ? "1 new case has arrived: show it" : j["new"] + " new cases have arrived: show them";
        notice.hidden = false;
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();

// The undo button after a triage counts down and goes once its window is over (the
// server refuses a late undo all the same).
(function () {
  var form = document.getElementById("undo");
  if (!form) return;
  var until = Date.parse(form.getAttribute("data-until"));
  var left = document.getElementById("undo-left");
  function tick() {
    var s = Math.ceil((until - Date.now()) / 1000);
    if (!(s > 0)) { form.remove(); return; }
    left.textContent = s + " s left; nothing has been sent yet";
    window.setTimeout(tick, 500);
  }
  tick();
})();
