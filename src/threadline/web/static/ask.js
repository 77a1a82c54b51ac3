// The Ask page (ask.html): sends the question to POST /ask/stream and writes the answer into
// the page as it arrives (text/event-stream: "delta" events {text}, then "done" with the
// answer's JSON, or "error" with {error: {message}}). Everything received is set as text,
// never as HTML; citation links go only to paths of this site. Without this script the form
// posts to /ask and the answer comes back rendered in the page.
(function () {
  "use strict";

  var form = document.getElementById("ask-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) {
    return;
  }
  var section = document.getElementById("answer");
  var text = document.getElementById("answer-text");
  var errorBox = document.getElementById("answer-error");
  var list = document.getElementById("citations");
  var submit = document.getElementById("ask-submit");
  var thread = document.getElementById("ask-thread");
  var newButton = document.getElementById("ask-new");
  var conversation = document.getElementById("ask-conversation");
  var threadLink = document.getElementById("ask-thread-link");

  function showError(message) {
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

  function citation(c) {
    var item = document.createElement("li");
    item.value = c.n;
    var link = document.createElement("a");
    var url = String(c.url || "");
    link.href = url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : "#";
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

  function done(answered) {
    text.textContent = answered.answer;
    text.classList.toggle("no-match", Boolean(answered.no_match));
    list.replaceChildren.apply(list, (answered.citations || []).map(citation));
    list.hidden = !list.children.length;
    setThread(answered.thread_id);
  }

  function handle(name, data) {
    var value = JSON.parse(data);
    if (name === "delta") {
      text.textContent += value.text;
    } else if (name === "done") {
      done(value);
    } else if (name === "error") {
      showError(value.error && value.error.message ? value.error.message : "The answer failed.");
    }
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
      throw new Error("The server answered HTTP " + response.status + "; try again.");
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
    var body = new URLSearchParams(new FormData(form));
    section.hidden = false;
    errorBox.hidden = true;
    text.textContent = "";
    text.classList.remove("no-match");
    text.classList.add("writing");
    list.replaceChildren();
    list.hidden = true;
    submit.disabled = true;
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
        submit.disabled = false;
        text.classList.remove("writing");
      });
  });

  newButton.addEventListener("click", function () {
    setThread("");
    section.hidden = true;
    document.getElementById("ask-question").focus();
  });
})();
