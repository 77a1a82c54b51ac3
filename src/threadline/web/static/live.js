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
// Containers get a "threadline:updated" event with the added nodes (detail.nodes).
//
// Also here, because every page loads this file: buttons with data-copy="<element id>" copy
// that element's text (or value) to the clipboard.
(function () {
  "use strict";

  // --- copy buttons -----------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var text = "value" in source ? source.value : source.textContent;
    var done = function () {
      button.setAttribute("data-copied", "");
      button.textContent = "Copied";
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () {
        selectText(source);
      });
    } else {
      selectText(source);
    }
  });

  function selectText(element) {
    if (element.select) {
      element.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- live updates -----------------------------------------------------------------------
  var rows = document.querySelector("tbody#thread-rows[data-change]");
  var entries = document.querySelector("ol#entries[data-thread-id][data-change]");
  var target = rows || entries;
  if (!target || !window.EventSource || !window.fetch) {
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

  function parse(html, selector) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return Array.prototype.slice.call(template.content.querySelectorAll(selector));
  }

  function applyRows(html) {
    var added = [];
    var fresh = parse(html, "tr[id]");
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
    parse(html, "li[id]").forEach(function (item) {
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
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("live: HTTP " + response.status);
        }
        if (response.headers.get("Threadline-Reload") === "1") {
          window.location.reload();
          return null;
        }
        var change = response.headers.get("Threadline-Change");
        return response.text().then(function (html) {
          var added = rows ? applyRows(html) : applyEntries(html);
          if (change) {
            target.setAttribute("data-change", change);
          }
          if (added.length) {
            target.dispatchEvent(
              new CustomEvent("threadline:updated", { bubbles: true, detail: { nodes: added } })
            );
          }
        });
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
