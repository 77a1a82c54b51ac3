// Live updates, on every page (loaded by base.html for a signed-in user).
//
// Where something can change under the reader — the threads list (tbody#thread-rows), a
// thread page (ol#entries), a list of hand-off saves (ul#save-list: the saves page, and a
// session's thread page) — this opens an EventSource on /events. Each "change" event lists
// the user's threads that changed ({id, change, entry_count, last_activity_at, deleted}) and
// the saves created ({id, thread_id, change}, under "saves"); the page then fetches only what
// is new, as HTML fragments rendered by the server:
//
//   list:   GET /threads/rows?since_change=N&<the page's filters>  → <tr id="thread-…"> rows
//   thread: GET /threads/{id}/entries?since_change=N               → <li id="entry-…"> items
//   saves:  GET /saves/rows?since_change=N&<data-live-query>       → <li id="save-…"> items
//
// N is the container's data-change; the answer's Threadline-Change header is the next N.
// Rows and entries already on the page are replaced by id; new rows go to the top, new entries
// and saves in display order (data-sort; saves newest first). Threadline-Reload: 1 means too
// much changed: reload instead. One fetch at a time per container; an event during a fetch
// schedules one more. When the stream (re)opens, one catch-up fetch covers what changed
// between rendering the page and connecting. A hidden [data-saves-holder] around the saves
// list is shown once a save arrives.
// The container then gets a "threadline:updated" event with the added or replaced nodes
// (detail.nodes): thread.js gives their code blocks copy buttons. Helpers: common.js.
(function () {
  "use strict";

  var rows = document.querySelector("tbody#thread-rows[data-change]");
  var entries = document.querySelector("ol#entries[data-thread-id][data-change]");
  var saves = document.querySelector("ul#save-list[data-change]");
  var target = rows || entries;
  var threadline = window.threadline;
  if (!(target || saves) || !threadline || !window.EventSource || !window.fetch) {
    return;
  }
  var status = document.getElementById("live-status");

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

  function savesUrl() {
    var since = encodeURIComponent(saves.getAttribute("data-change") || "0");
    var query = saves.getAttribute("data-live-query") || "";
    return "/saves/rows?since_change=" + since + (query ? "&" + query : "");
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

  function applySaves(html) {
    var added = [];
    threadline.parse(html, "li[id]").forEach(function (item) {
      var old = document.getElementById(item.id);
      if (old && old.parentNode) {
        old.parentNode.removeChild(old);
      }
      var key = item.getAttribute("data-sort") || "";
      var next = saves.firstElementChild;
      // Newest first: usually the new save goes on top.
      while (next && (next.getAttribute("data-sort") || "") > key) {
        next = next.nextElementSibling;
      }
      saves.insertBefore(item, next);
      added.push(item);
    });
    if (added.length) {
      var holder = saves.closest("[data-saves-holder]");
      if (holder) {
        holder.hidden = false;
      }
      var empty = document.getElementById("saves-empty");
      if (empty) {
        empty.hidden = true;
      }
    }
    return added;
  }

  // A function that brings `container` up to date: fetches url(), applies the fragment with
  // apply(html) (which answers the nodes it added) and stores the next data-change.
  function refresher(container, url, apply) {
    var busy = false;
    var again = false;
    function refresh() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      again = false;
      threadline
        .fetchHtml(url())
        .then(function (got) {
          if (got.response.headers.get("Threadline-Reload") === "1") {
            window.location.reload();
            return;
          }
          var change = got.response.headers.get("Threadline-Change");
          var added = apply(got.text);
          if (change) {
            container.setAttribute("data-change", change);
          }
          if (added.length) {
            container.dispatchEvent(
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
    return refresh;
  }

  var refresh = target ? refresher(target, fragmentUrl, rows ? applyRows : applyEntries) : null;
  var refreshSaves = saves ? refresher(saves, savesUrl, applySaves) : null;

  function concernsSaves(data) {
    var thread = saves.getAttribute("data-thread-id");
    var seen = parseInt(saves.getAttribute("data-change") || "0", 10);
    return data.saves.some(function (save) {
      return save.change > seen && (!thread || save.thread_id === thread);
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
    if (refresh) {
      refresh();
    }
    if (refreshSaves) {
      refreshSaves();
    }
  });
  source.addEventListener("change", function (event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (refresh && data && data.threads && concerns(data)) {
      refresh();
    }
    if (refreshSaves && data && data.saves && concernsSaves(data)) {
      refreshSaves();
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
