// exbridge admin UI: the live feed. The page's <ul id="feed"> names the stream and the event
// types; each event is prepended as text (never as HTML).
(function () {
  "use strict";
  var feed = document.getElementById("feed");
  if (!feed || !window.EventSource) return;
  var status = document.getElementById("feed-status");
  var source = new EventSource(feed.dataset.stream);
  source.onopen = function () { if (status) status.textContent = "connected"; };
  source.onerror = function () { if (status) status.textContent = "reconnecting…"; };
  function show(e) {
    var p = {};
    try { p = JSON.parse(e.data); } catch (_) { p = { type: e.type }; }
    var d = p.data || {};
    var what = d.subject || (d.busy === undefined ? "" : (d.busy ? "busy" : "free"));
    var li = document.createElement("li");
    li.className = "feed-entry";
    li.dataset.type = p.type || e.type;
    li.textContent = [p.occurred_at, p.type || e.type, p.user_id, what].filter(Boolean).join("  ");
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > 500) feed.removeChild(feed.lastChild);
  }
  feed.dataset.types.split(",").forEach(function (t) { source.addEventListener(t, show); });
})();
