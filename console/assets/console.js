// The live parts of the console: every element with data-live gets the
// server-sent events of its URL, newest first, at most 300 lines. Text
// only (textContent), never HTML.
(function () {
  "use strict";
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(t) {
    var d = t ? new Date(t) : new Date();
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function line(ev) {
    var parts = [clock(ev.time)];
    if (ev.dropped) parts.push("(" + ev.dropped + " dropped)");
    if (ev.cause) parts.push("AMI " + ev.cause);
    if (ev.socket) parts.push("→ " + ev.socket);
    parts.push(ev.name);
    if (ev.key) parts.push(ev.key);
    if (ev.data !== undefined) parts.push(JSON.stringify(ev.data));
    return parts.join("  ");
  }
  document.querySelectorAll("[data-live]").forEach(function (list) {
    var src = new EventSource(list.getAttribute("data-live"));
    var first = true;
    src.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (first) { list.textContent = ""; first = false; }
      var li = document.createElement("li");
      li.className = ev.kind || "event";
      li.textContent = line(ev);
      list.insertBefore(li, list.firstChild);
      while (list.childNodes.length > 300) list.removeChild(list.lastChild);
    };
    src.addEventListener("failure", function (m) {
      var li = document.createElement("li");
      li.className = "error";
      li.textContent = m.data;
      list.insertBefore(li, list.firstChild);
      src.close();
    });
  });
})();
