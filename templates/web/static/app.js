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
