// The Ask page (ask.html): sends the question to POST /ask/stream and writes the answer into
// the page as it arrives (text/event-stream: "delta" events {text}, then "done" with the
// answer's JSON, or "error" with {error: {message}}). Everything received is set as text,
// never as HTML; citation links go only to paths of this site, and the answer's markers of
// them ([1], [1, 2]) become links once it is done. The answer before moves up to the earlier
// turns when the next question is asked. Ctrl+Enter (Cmd+Enter) in the question box asks.
// Without this script the form posts to /ask and the answer comes back rendered in the page.
(function () {
  "use strict";

  var form = document.getElementById("ask-form");
  var question = document.getElementById("ask-question");
  if (!form || !question) {
    return;
  }
  question.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) {
        form.requestSubmit();
      } else if (form.reportValidity()) {
        form.submit();
      }
    }
  });
  if (!window.fetch || !window.TextDecoder || !window.ReadableStream) {
    return;
  }
  var section = document.getElementById("answer");
  var status = document.getElementById("answer-status");
  var text = document.getElementById("answer-text");
  var errorBox = document.getElementById("answer-error");
  var list = document.getElementById("citations");
  var submit = document.getElementById("ask-submit");
  var thread = document.getElementById("ask-thread");
  var newButton = document.getElementById("ask-new");
  var conversation = document.getElementById("ask-conversation");
  var threadLink = document.getElementById("ask-thread-link");
  var turns = document.getElementById("turns");
  var turnList = document.getElementById("turn-list");
  // The answer shown below the form (its JSON), once done: it becomes a turn when the next
  // question is asked.
  var shown = null;
  // A citation marker: [n] or [n, m], when it is not right after a letter or digit (WORD).
  var MARKER = /\[\s*\d{1,4}(?:\s*,\s*\d{1,4})*\s*\]/g;
  var WORD = /[\p{L}\p{N}_]/u;

  // The status line and aria-busy while the answer is awaited.
  function waiting(on) {
    status.hidden = !on;
    if (on) {
      section.setAttribute("aria-busy", "true");
    }
  }

  function finished() {
    status.hidden = true;
    section.removeAttribute("aria-busy");
  }

  function showError(message) {
    finished();
    section.hidden = false;
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function setThread(id) {
    thread.value = id || "";
    newButton.hidden = !id;
    conversation.hidden = !id;
    threadLink.href = id ? "/threads/" + encodeURIComponent(id) : "#";
  }

  // A path of this site, else "#" (not //host nor /\host, which browsers read as a host).
  function sitePath(url) {
    url = String(url || "");
    return /^\/(?![\/\\])/.test(url) ? url : "#";
  }

  function citation(c) {
    var item = document.createElement("li");
    item.value = c.n;
    var link = document.createElement("a");
    link.href = sitePath(c.url);
    link.textContent = c.thread_title || c.thread_id;
    var facts = document.createElement("span");
    facts.className = "muted small";
    var when = document.createElement("time");
    when.dateTime = String(c.ts || "");
    when.title = String(c.ts || "");
    when.textContent = String(c.ts || "").slice(0, 16).replace("T", " ") + " UTC";
    facts.append(" " + c.role + " · ", when);
    var snippet = document.createElement("div");
    snippet.className = "snippet";
    snippet.textContent = c.snippet;
    item.append(link, facts, snippet);
    return item;
  }

  function citeLink(label, url) {
    var link = document.createElement("a");
    link.className = "cite";
    link.href = url;
    link.textContent = label;
    return link;
  }

  // The answer's text as nodes: text, and its markers of known citations as links to them
  // ([1] whole, in [1, 2] each number).
  function linkedText(answer, citations) {
    var urls = {};
    (citations || []).forEach(function (c) {
      if (sitePath(c.url) !== "#") {
        urls[c.n] = c.url;
      }
    });
    var nodes = [];
    var position = 0;
    var match;
    answer = String(answer || "");
    MARKER.lastIndex = 0;
    while ((match = MARKER.exec(answer)) !== null) {
      var marker = match[0];
      if (match.index > 0 && WORD.test(answer.charAt(match.index - 1))) {
        continue;
      }
      nodes.push(answer.slice(position, match.index));
      var inner = marker.split(/(\d+)/);
      if (inner.length === 3) {
        var url = urls[Number(inner[1])];
        nodes.push(url ? citeLink(marker, url) : marker);
      } else {
        inner.forEach(function (piece, i) {
          var url = i % 2 ? urls[Number(piece)] : null;
          nodes.push(url ? citeLink(piece, url) : piece);
        });
      }
      position = match.index + marker.length;
    }
    nodes.push(answer.slice(position));
    return nodes.filter(function (node) {
      return node !== "";
    });
  }

  // An answered question as an earlier turn (as ask.html renders them).
  function turn(answered) {
    var item = document.createElement("li");
    item.className = "turn card";
    var asked = document.createElement("p");
    asked.className = "turn-question";
    asked.textContent = answered.question;
    var answer = document.createElement("div");
    answer.className = "answer-text" + (answered.no_match ? " no-match" : "");
    answer.append.apply(answer, linkedText(answered.answer, answered.citations));
    item.append(asked, answer);
    if (answered.citations && answered.citations.length) {
      var cited = document.createElement("ol");
      cited.className = "citations";
      cited.append.apply(cited, answered.citations.map(citation));
      item.append(cited);
    }
    return item;
  }

  function done(answered) {
    finished();
    text.replaceChildren.apply(text, linkedText(answered.answer, answered.citations));
    text.classList.toggle("no-match", Boolean(answered.no_match));
    list.replaceChildren.apply(list, (answered.citations || []).map(citation));
    list.hidden = !list.children.length;
    setThread(answered.thread_id);
    shown = answered;
  }

  function handle(name, data) {
    var value = JSON.parse(data);
    if (name === "delta") {
      status.hidden = true;
      text.textContent += value.text;
    } else if (name === "done") {
      done(value);
    } else if (name === "error") {
      failed(value);
    }
  }

  // An error in the API's shape: its message and hint; a question the server kept (its
  // language model failed) is in a conversation, which the next question continues.
  function failed(value) {
    var error = (value && value.error) || {};
    var detail = error.detail || {};
    if (typeof detail.thread_id === "string") {
      setThread(detail.thread_id);
    }
    var message = typeof error.message === "string" ? error.message : "The answer failed.";
    showError(typeof detail.hint === "string" ? message + " " + detail.hint : message);
  }

  // Hands every complete event in buffer to handle(); returns what is left of it.
  function drain(buffer) {
    var parts = buffer.replace(/\r\n?/g, "\n").split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (block) {
      var name = "message";
      var data = [];
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) {
          name = line.slice(6).trim();
        } else if (line.indexOf("data:") === 0) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      });
      if (data.length) {
        handle(name, data.join("\n"));
      }
    });
    return rest;
  }

  function read(response) {
    if (response.redirected) {
      throw new Error("Your session has ended: reload the page and sign in again.");
    }
    if (!response.ok) {
      var fallback = "The server answered HTTP " + response.status + "; try again.";
      return response.json().then(
        function (value) {
          if (!value || !value.error) {
            throw new Error(fallback);
          }
          failed(value);
        },
        function () {
          throw new Error(fallback);
        },
      );
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          drain(buffer + decoder.decode() + "\n\n");
          return undefined;
        }
        buffer = drain(buffer + decoder.decode(chunk.value, { stream: true }));
        return pump();
      });
    }
    return pump();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (submit.disabled) {
      return;
    }
    var body = new URLSearchParams(new FormData(form));
    if (shown) {
      turnList.append(turn(shown));
      turns.hidden = false;
    }
    shown = null;
    section.hidden = false;
    errorBox.hidden = true;
    text.textContent = "";
    text.classList.remove("no-match");
    text.classList.add("writing");
    list.replaceChildren();
    list.hidden = true;
    submit.disabled = true;
    waiting(true);
    fetch(form.dataset.stream, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "text/event-stream" },
    })
      .then(read)
      .catch(function (error) {
        showError(error.message);
      })
      .then(function () {
        finished();
        submit.disabled = false;
        text.classList.remove("writing");
      });
  });

  newButton.addEventListener("click", function () {
    setThread("");
    shown = null;
    section.hidden = true;
    turnList.replaceChildren();
    turns.hidden = true;
    question.focus();
  });
})();
