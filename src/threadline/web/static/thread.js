// The thread page: load more entries while scrolling, load earlier ones, follow #entry-<id>
// links into long threads, "show full" for cut texts, and copy buttons (each entry's, and one
// on every code block, including those of entries live.js adds). No inline script: everything
// is wired here from data attributes. Helpers: common.js.
(function () {
  "use strict";
  var list = document.getElementById("entries");
  var threadline = window.threadline;
  if (!list || !threadline) return;
  var threadId = list.getAttribute("data-thread-id");
  var base = "/threads/" + encodeURIComponent(threadId);
  var more = document.getElementById("more");
  var earlier = document.getElementById("load-before");
  var busy = false;

  var fetchHtml = threadline.fetchHtml;

  // Server-rendered entries, without those already on the page, ready to insert.
  function fragment(html) {
    var items = document.createDocumentFragment();
    threadline.unseen(threadline.parse(html, "li")).forEach(function (item) {
      items.appendChild(item);
    });
    addCodeButtons(items);
    return items;
  }

  function loadAfter() {
    var cursor = list.getAttribute("data-after");
    if (busy || !cursor) return Promise.resolve();
    busy = true;
    if (more) more.classList.add("loading");
    return fetchHtml(base + "/entries?after=" + encodeURIComponent(cursor))
      .then(function (got) {
        list.appendChild(fragment(got.text));
        var next = got.response.headers.get("Threadline-After") || "";
        list.setAttribute("data-after", next);
        if (!next && more) more.hidden = true;
      })
      .catch(function () { /* the link stays for another try */ })
      .finally(function () {
        busy = false;
        if (more) more.classList.remove("loading");
      });
  }

  function loadBefore() {
    var cursor = list.getAttribute("data-before");
    if (busy || !cursor) return Promise.resolve();
    busy = true;
    var height = document.documentElement.scrollHeight;
    return fetchHtml(base + "/entries?before=" + encodeURIComponent(cursor))
      .then(function (got) {
        list.insertBefore(fragment(got.text), list.firstChild);
        window.scrollBy(0, document.documentElement.scrollHeight - height);
        var previous = got.response.headers.get("Threadline-Before") || "";
        list.setAttribute("data-before", previous);
        if (!previous && earlier) earlier.hidden = true;
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }

  if (more) {
    var link = more.querySelector("a");
    if (link) link.addEventListener("click", function (event) { event.preventDefault(); loadAfter(); });
    if ("IntersectionObserver" in window) {
      new IntersectionObserver(function (seen) {
        if (seen.some(function (e) { return e.isIntersecting; })) {
          loadAfter().then(function () {
            // Keep going while the end is still in view (e.g. pages of hidden system lines).
            var box = more.getBoundingClientRect();
            if (!more.hidden && box.top < window.innerHeight + 400) loadAfter();
          });
        }
      }, { rootMargin: "600px 0px" }).observe(more);
    }
  }
  if (earlier) earlier.addEventListener("click", function () { loadBefore(); });

  // --- #entry-<id> links ---------------------------------------------------------------
  // The folds of an entry that show what a link points at: those holding a result, for a
  // result shown inside its call; else all of the entry's own (thinking, tool calls).
  function foldsOf(entry, results) {
    var found = [];
    var folds = entry.querySelectorAll(":scope > .entry-body > details");
    for (var i = 0; i < folds.length; i++) {
      if (!results || folds[i].querySelector(":scope > .result")) found.push(folds[i]);
    }
    return found;
  }

  function showTarget() {
    // #entry-<id>, and #e-<id> as search results linked before
    var match = /^#(?:entry|e)-([0-9A-Za-z-]+)$/.exec(window.location.hash);
    if (!match) return;
    var element = document.getElementById("entry-" + match[1]);
    var params = new URLSearchParams(window.location.search);
    if (!element) {
      if (params.get("around") !== match[1]) {
        window.location.replace(base + "?around=" + encodeURIComponent(match[1]) + window.location.hash);
      }
      return;
    }
    var paired = element.getAttribute("data-paired-to");
    var call = paired ? document.getElementById(paired) : null;
    var result = null;
    var folds;
    if (call) {
      // A result shown inside its call: the page opened with ?around= marked which one.
      element = call;
      if (params.get("around") === match[1]) result = call.querySelector(".result.targeted");
      folds = result ? [result.parentElement] : foldsOf(call, true);
      if (!result && folds.length) result = folds[0].querySelector(":scope > .result");
    } else {
      folds = foldsOf(element, false);
    }
    var previous = document.querySelectorAll(".entry.targeted, .result.targeted");
    for (var i = 0; i < previous.length; i++) previous[i].classList.remove("targeted");
    element.classList.add("targeted");
    if (result) result.classList.add("targeted");
    for (var f = 0; f < folds.length; f++) folds[f].open = true;
    for (var node = element.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    if (element.classList.contains("sys")) {
      var toggle = document.getElementById("show-sys");
      if (toggle) toggle.checked = true;
    }
    (result || element).scrollIntoView({ block: "start" });
  }
  window.addEventListener("hashchange", showTarget);
  showTarget();

  // --- show full, copy -------------------------------------------------------------------
  function addCodeButtons(root) {
    var blocks = root.querySelectorAll("pre.code, pre.input, pre.output, pre.diff");
    for (var i = 0; i < blocks.length; i++) {
      if (blocks[i].querySelector(":scope > .copy-code")) continue;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.textContent = "Copy";
      blocks[i].insertBefore(button, blocks[i].firstChild);
    }
  }

  // Entries added or replaced by live updates (live.js).
  list.addEventListener("threadline:updated", function (event) {
    var nodes = (event.detail && event.detail.nodes) || [];
    for (var i = 0; i < nodes.length; i++) addCodeButtons(nodes[i]);
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var full = target.closest("a.show-full");
    if (full) {
      event.preventDefault();
      var owner = document.getElementById("entry-" + full.getAttribute("data-entry"));
      full.textContent = "Loading…";
      fetchHtml(full.getAttribute("href")).then(function (got) {
        var items = threadline.parse(got.text, "li");
        items.forEach(addCodeButtons);
        if (owner) owner.replaceWith.apply(owner, items);
      }).catch(function () { full.textContent = "Could not load; try again"; });
      return;
    }
    var codeButton = target.closest("button.copy-code");
    if (codeButton) {
      var pre = codeButton.parentElement;
      var code = pre.querySelector("code");
      var text = "";
      if (code) text = code.textContent;
      else {
        var clone = pre.cloneNode(true);
        clone.querySelector(".copy-code").remove();
        text = pre.classList.contains("diff") ? diffText(clone) : clone.textContent;
      }
      threadline.copy(text, codeButton);
      return;
    }
    var entryButton = target.closest("button[data-copy-entry]");
    if (entryButton) {
      var entry = entryButton.closest(".entry");
      var body = entry && entry.querySelector(".entry-body");
      if (body) threadline.copy(body.innerText, entryButton);
    }
  });

  function diffText(pre) {
    var lines = pre.querySelectorAll(".dl");
    var out = [];
    var marks = { "d-add": "+", "d-del": "-", "d-ctx": " " };
    for (var i = 0; i < lines.length; i++) {
      var mark = "";
      for (var cls in marks) if (lines[i].classList.contains(cls)) mark = marks[cls];
      out.push(mark + lines[i].textContent);
    }
    return out.join("\n");
  }

  addCodeButtons(document);
})();
