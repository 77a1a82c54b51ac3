"""Recall: what turns search hits into an answer with citations — pure, no database.

- :mod:`terms` — the words of a question that matter, stemmed.
- :mod:`weights` — how much each term matters (its rarity in the history), and the relevance
  rule built on it.
- :mod:`passages` — passages cut around matching entries (a tool call with its result, a reply
  with the prompt it answers), merged when they overlap, bounded in size.
- :mod:`extractive` — the offline answer: quoted sentences of the best passages, each cited.
- :mod:`prompt` — the messages sent to a language model: retrieved text quoted as data between
  unforgeable markers, never as instructions.
- :mod:`expand` — a language model's search words for a question (sent only the question,
  its reply read as bounded plain words), searched beside the question's own.
- :mod:`citations` — ``[n]`` markers of an answer mapped back to passages; invented ones dropped.
- :mod:`llm` — streaming clients of OpenAI-compatible chat endpoints and Anthropic's Messages
  API (over httpx).

It imports :mod:`threadline.protocol` and :mod:`threadline.errors` only; the server's
:mod:`threadline.services.ask` feeds it rows and stores what it answers.
"""
