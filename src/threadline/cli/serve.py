"""``threadline serve``: run the sync server (see :mod:`threadline.server.run`)."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default=None, help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port; 0 picks a free one.  [default: 8787]")
@click.option(
    "--database-url",
    default=None,
    help="sqlite:///path or postgresql://…  [default: $THREADLINE_DATABASE_URL, else server.db "
    "in the data folder]",
)
@click.option(
    "--max-entry-bytes", type=click.IntRange(min=1), default=None, help="Limit per entry."
)
@click.option("--max-batch-bytes", type=click.IntRange(min=1), default=None, help="Limit per body.")
@click.option("--access-log", is_flag=True, default=None, help="Log every request.")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Server processes sharing the port (one per core uses every core).  [default: 1]",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0, min_open=True, max=60),
    default=None,
    help="Seconds a connection has to send a request's headers before it is closed "
    "(at most 60).  [default: $THREADLINE_HEADER_TIMEOUT, else 30]",
)
@click.option(
    "--llm-provider",
    type=click.Choice(["none", "openai", "anthropic"]),
    default=None,
    help="Language model writing `ask` answers: openai (any OpenAI-compatible endpoint), "
    "anthropic, or none for extractive answers.  [default: $THREADLINE_LLM_PROVIDER, else none]",
)
@click.option("--llm-base-url", default=None, help="The model endpoint's base URL.")
@click.option("--llm-model", default=None, help="The model's name.")
@click.option(
    "--llm-api-key-env",
    default=None,
    metavar="NAME",
    help="Name of the environment variable holding the model's API key (not the key).",
)
@click.option(
    "--llm-timeout",
    type=click.FloatRange(min=0, min_open=True, max=600),
    default=None,
    help="Seconds to wait for each piece of the model's answer.  [default: 120]",
)
@click.option(
    "--max-blob-bytes",
    type=click.IntRange(min=1),
    default=None,
    help="Limit per hand-off blob, uncompressed.  [default: 100 MiB]",
)
@click.option(
    "--max-save-files",
    type=click.IntRange(min=1),
    default=None,
    help="Files listed per hand-off save.  [default: 50000]",
)
@click.option(
    "--max-save-message-chars",
    type=click.IntRange(min=1),
    default=None,
    help="Characters of a hand-off save's message.  [default: 10000]",
)
def serve(
    host: str | None,
    port: int | None,
    database_url: str | None,
    max_entry_bytes: int | None,
    max_batch_bytes: int | None,
    access_log: bool | None,
    workers: int | None,
    header_timeout: float | None,
    llm_provider: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    llm_api_key_env: str | None,
    llm_timeout: float | None,
    max_blob_bytes: int | None,
    max_save_files: int | None,
    max_save_message_chars: int | None,
) -> None:
    """Run the Threadline sync server until SIGINT or SIGTERM."""
    from threadline.server.run import serve as run_server
    from threadline.server.settings import check_llm, settings_from_env

    settings = settings_from_env().with_overrides(
        host=host,
        port=port,
        database_url=database_url,
        max_entry_bytes=max_entry_bytes,
        max_batch_bytes=max_batch_bytes,
        access_log=access_log,
        workers=workers,
        header_timeout=header_timeout,
        llm_provider=llm_provider,
        llm_base_url=llm_base_url,
        llm_model=llm_model,
        llm_api_key_env=llm_api_key_env,
        llm_timeout=llm_timeout,
        max_blob_bytes=max_blob_bytes,
        max_save_files=max_save_files,
        max_save_message_chars=max_save_message_chars,
    )
    check_llm(settings)
    status = run_server(settings)
    if status:
        raise SystemExit(status)
