// The threads list: "Load more" becomes infinite scroll.
//
// Without this script the link loads the next page as a page. With it, the next page's rows
// come from GET /threads/rows (same query, same cursor) as an HTML fragment and are appended
// to the table; the response's Threadline-Next-Cursor header moves the link on, and an empty
// one means there is nothing more. A row already shown (moved up by a live update) is kept
// where it is. If a fetch fails, the link goes back to being a plain link. Helpers: common.js.
(function () {
  "use strict";
  var link = document.getElementById("load-more");
  var body = document.getElementById("thread-rows");
  var threadline = window.threadline;
  if (!link || !body || !threadline || !window.fetch || !window.URL) {
    return;
  }
  var loading = false;
  var enhanced = true;
  var observer = null;

  function rowsUrl(href) {
    var url = new URL(href, window.location.href);
    url.pathname = "/threads/rows";
    return url.toString();
  }

  function giveUp() {
    enhanced = false;
    if (observer) {
      observer.disconnect();
    }
  }

  function finish() {
    if (observer) {
      observer.disconnect();
    }
    var holder = link.parentNode;
    if (holder && holder.parentNode) {
      holder.parentNode.removeChild(holder);
    }
  }

  function loadMore() {
    if (loading || !enhanced) {
      return;
    }
    loading = true;
    link.setAttribute("aria-busy", "true");
    threadline
      .fetchHtml(rowsUrl(link.href))
      .then(function (got) {
        threadline.unseen(threadline.parse(got.text, "tr[id]")).forEach(function (row) {
          body.appendChild(row);
        });
        var next = got.response.headers.get("Threadline-Next-Cursor") || "";
        if (next) {
          var url = new URL(link.href, window.location.href);
          url.searchParams.set("cursor", next);
          link.href = url.toString();
        } else {
          finish();
        }
      })
      .catch(giveUp)
      .then(function () {
        loading = false;
        link.removeAttribute("aria-busy");
      });
  }

  link.addEventListener("click", function (event) {
    if (enhanced) {
      event.preventDefault();
      loadMore();
    }
  });

  if ("IntersectionObserver" in window) {
    observer = new IntersectionObserver(
      function (seen) {
        for (var i = 0; i < seen.length; i++) {
          if (seen[i].isIntersecting) {
            loadMore();
          }
        }
      },
      { rootMargin: "600px 0px" }
    );
    observer.observe(link);
  }
})();
