// Live updates, on every page (loaded by base.html for a signed-in user).
//
// Where something can change under the reader — the threads list (tbody#thread-rows) or a
// thread page (ol#entries) — this opens an EventSource on /events. Each "change" event lists
// the user's threads that changed ({id, change, entry_count, last_activity_at, deleted}); the
// page then fetches only what is new, as HTML fragments rendered by the server:
//
//   list:   GET /threads/rows?since_change=N&<the page's filters>  → <tr id="thread-…"> rows
//   thread: GET /threads/{id}/entries?since_change=N               → <li id="entry-…"> items
//
// N is the container's data-change; the answer's Threadline-Change header is the next N.
// Rows and entries already on the page are replaced by id; new rows go to the top, new entries
// in display order (data-sort). Threadline-Reload: 1 means too much changed: reload instead.
// One fetch at a time; an event during a fetch schedules one more. When the stream (re)opens,
// one catch-up fetch covers what changed between rendering the page and connecting.
// The container then gets a "threadline:updated" event with the added or replaced nodes
// (detail.nodes): thread.js gives their code blocks copy buttons. Helpers: common.js.
(function () {
  "use strict";

  var rows = document.querySelector("tbody#thread-rows[data-change]");
  var entries = document.querySelector("ol#entries[data-thread-id][data-change]");
  var target = rows || entries;
  var threadline = window.threadline;
  if (!target || !threadline || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.getElementById("live-status");
  var busy = false;
  var again = false;

  function setStatus(state, text) {
    document.documentElement.setAttribute("data-live", state);
    if (status) {
      status.hidden = false;
      status.setAttribute("data-state", state);
      status.textContent = text;
    }
  }

  function fragmentUrl() {
    var since = encodeURIComponent(target.getAttribute("data-change") || "0");
    if (rows) {
      var filters = rows.getAttribute("data-filters") || "";
      return "/threads/rows?since_change=" + since + (filters ? "&" + filters : "");
    }
    var id = encodeURIComponent(entries.getAttribute("data-thread-id"));
    return "/threads/" + id + "/entries?since_change=" + since;
  }

  function applyRows(html) {
    var added = [];
    var fresh = threadline.parse(html, "tr[id]");
    // The answer is most recent first: insert from the last so the first ends on top.
    for (var i = fresh.length - 1; i >= 0; i--) {
      var row = fresh[i];
      var old = document.getElementById(row.id);
      if (old && old.parentNode) {
        old.parentNode.removeChild(old);
      }
      if (row.hasAttribute("data-deleted")) {
        continue;
      }
      rows.insertBefore(row, rows.firstChild);
      added.push(row);
    }
    var empty = rows.querySelector("tr.empty");
    if (empty && added.length) {
      empty.parentNode.removeChild(empty);
    }
    return added;
  }

  function applyEntries(html) {
    var added = [];
    var atEnd = !entries.getAttribute("data-after");
    threadline.parse(html, "li[id]").forEach(function (item) {
      var old = document.getElementById(item.id);
      if (old) {
        old.parentNode.replaceChild(item, old);
        added.push(item);
        return;
      }
      if (!atEnd) {
        return; // not on the page yet: paging on will bring it
      }
      var key = item.getAttribute("data-sort") || "";
      var next = null;
      var last = entries.lastElementChild;
      // Usually the new entry is the last one; walk back over those that sort after it.
      while (last && key && (last.getAttribute("data-sort") || "") > key) {
        next = last;
        last = last.previousElementSibling;
      }
      entries.insertBefore(item, next);
      added.push(item);
    });
    var empty = entries.parentNode && entries.parentNode.querySelector(".empty");
    if (empty && entries.children.length) {
      empty.parentNode.removeChild(empty);
    }
    return added;
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    again = false;
    threadline
      .fetchHtml(fragmentUrl())
      .then(function (got) {
        if (got.response.headers.get("Threadline-Reload") === "1") {
          window.location.reload();
          return;
        }
        var change = got.response.headers.get("Threadline-Change");
        var added = rows ? applyRows(got.text) : applyEntries(got.text);
        if (change) {
          target.setAttribute("data-change", change);
        }
        if (added.length) {
          target.dispatchEvent(
            new CustomEvent("threadline:updated", { bubbles: true, detail: { nodes: added } })
          );
        }
      })
      .catch(function () {
        setStatus("error", "Live updates paused");
      })
      .then(function () {
        busy = false;
        if (again) {
          refresh();
        }
      });
  }

  function concerns(data) {
    if (rows) {
      return data.threads.length > 0;
    }
    var id = entries.getAttribute("data-thread-id");
    var seen = parseInt(entries.getAttribute("data-change") || "0", 10);
    return data.threads.some(function (thread) {
      return thread.id === id && thread.change > seen;
    });
  }

  var source = new EventSource("/events");
  source.addEventListener("open", function () {
    setStatus("on", "Live");
    refresh();
  });
  source.addEventListener("change", function (event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (data && data.threads && concerns(data)) {
      refresh();
    }
  });
  source.addEventListener("error", function () {
    // The browser reconnects by itself (sending Last-Event-ID) unless the server refused.
    if (source.readyState === EventSource.CLOSED) {
      setStatus("off", "Live updates off; reload the page");
    } else {
      setStatus("connecting", "Reconnecting…");
    }
  });
})();
