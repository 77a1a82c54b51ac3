// What the page scripts share, as window.threadline (base.html loads this file first, before
// live.js and the page's own script, for a signed-in user):
//
//   fetchHtml(url)        → a promise of {response, text}: a server-rendered HTML fragment;
//                           it fails on an HTTP error or a redirect (an ended session is sent
//                           to the sign-in page)
//   parse(html, selector) → the top-level elements of a fragment that match selector (its
//                           rows or entries, not the entries nested in a subagent run)
//   unseen(elements)      → those of them whose id is not on the page yet
//   copy(text, button, options) → text to the clipboard; the button then says "Copied"
//                           (for a moment, or for good with options.keep); if the clipboard
//                           refuses, options.select (an element) is selected for a manual copy
//
// Also here, because every page loads this file: a button with data-copy="<element id>"
// copies that element's value (or text), e.g. a new token's secret on the account page.
(function () {
  "use strict";

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(
      function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("HTTP " + response.status + " for " + url);
        }
        return response.text().then(function (text) {
          return { response: response, text: text };
        });
      }
    );
  }

  function parse(html, selector) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return Array.prototype.filter.call(template.content.children, function (element) {
      return element.matches(selector);
    });
  }

  function unseen(elements) {
    return elements.filter(function (element) {
      return !element.id || !document.getElementById(element.id);
    });
  }

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

  function copy(text, button, options) {
    options = options || {};
    var refused = function () {
      if (options.select) {
        selectText(options.select);
      }
    };
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      refused();
      return;
    }
    navigator.clipboard.writeText(text).then(function () {
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      button.setAttribute("data-copied", "");
      button.classList.add("copied");
      button.textContent = "Copied";
      if (!options.keep) {
        setTimeout(function () {
          button.textContent = label;
          button.removeAttribute("data-copied");
          button.classList.remove("copied");
        }, 1200);
      }
    }, refused);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    var source = button && document.getElementById(button.getAttribute("data-copy"));
    if (source) {
      var text = "value" in source ? source.value : source.textContent;
      copy(text, button, { select: source, keep: true });
    }
  });

  window.threadline = { fetchHtml: fetchHtml, parse: parse, unseen: unseen, copy: copy };
})();
