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
  // fill writes one event into li: for a traced frame, its cause beside
  // the frame as the client gets it; else the event with its data.
  function fill(li, ev) {
    var head = clock(ev.time) + (ev.dropped ? "  (" + ev.dropped + " dropped)" : "");
    if (ev.kind === "frame") {
      var cause = document.createElement("span");
      cause.className = "cause";
      cause.textContent = head + "  " + (ev.cause ? "← " + ev.cause : "(no bus event)");
      var frame = document.createElement("span");
      frame.className = "data";
      frame.textContent = ev.data;
      li.appendChild(cause);
      li.appendChild(frame);
      return;
    }
    var parts = [head, ev.name];
    if (ev.key) parts.push(ev.key);
    if (ev.seq) parts.push("#" + ev.seq);
    if (ev.data !== undefined) parts.push(JSON.stringify(ev.data));
    li.textContent = parts.join("  ");
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
      fill(li, ev);
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
