"""The `assistant` command line: ingest, states, search, ask, eval, serve, slack, config show.

Thin: parses, calls the engine (or, for `eval`, the harness's one entry point), prints. The engine's
errors become one line and the contract's exit code; an unexpected one becomes one line too, with its
traceback written to the error log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.core.offline import apply_offline_defaults

apply_offline_defaults()

from assistant.core.errors import AssistantError, first_line  # noqa: E402
from assistant.core.settings import default_home, load_settings  # noqa: E402

app = typer.Typer(help="Ask questions about a collection of paper abstracts, with cited answers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KOpt = Annotated[Optional[int], typer.Option("-k", help="Number of papers.", min=1, max=50)]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Only papers seen in feeds on/after this date.")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Only papers seen in feeds on/before this date.")]
CodeOpt = Annotated[bool, typer.Option("--has-code", help="Only papers with a code link.")]
ReadOpt = Annotated[bool, typer.Option("--read-filters/--as-typed",
                                       help="Read filters the question states ('in the Mar 13 feed', 'with code'), "
                                            "or search it as typed.")]


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _run(action: Callable[[], None]) -> None:
    """Turn the engine's errors into one line and the contract's exit code; log anything unexpected."""
    try:
        action()
    except AssistantError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.Exit:
        raise
    except Exception as exc:
        where = _log_unexpected(exc)
        _fail(f"unexpected {type(exc).__name__}: {first_line(exc)} (traceback in {where})", 2)


def _log_unexpected(exc: Exception) -> Path:
    """Append the traceback to the error log in the data home (or the temp dir if that is not writable)."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    for folder in (default_home(), Path(tempfile.gettempdir())):
        path = folder / "errors.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                log.write(f"--- {' '.join(sys.argv)}\n{text}")
            return path
        except OSError:
            continue
    return Path("stderr")


def _engine(question: str | None = None, **overrides):
    """The engine on the loaded settings; a given question is checked first (a user mistake beats a missing index)."""
    from assistant.core.questions import check_question
    from assistant.engine import Assistant

    settings = load_settings()
    if question is not None:
        check_question(question, settings.max_question_chars)
    return Assistant(settings, **overrides)


def _filter(since: str | None, until: str | None, has_code: bool):
    from assistant.answer.retrieve import search_filter_from

    return search_filter_from(since, until, has_code)


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="Feed files or folders.")], as_json: JsonOpt = False):
    """Ingest feed dumps, JSONL/JSON, arXiv metadata or CSV files; re-running changes nothing."""

    def action():
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        engine = _engine(chat_model=None, create_index=True)
        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} papers"),
                          TimeElapsedColumn(), disable=as_json or not sys.stderr.isatty(),
                          console=_stderr_console()) as bar:
                task = bar.add_task("embedding and indexing", total=None)
                report = engine.ingest(paths, progress=lambda _unit, n: bar.advance(task, n))
            papers = engine.chunk_count()
        finally:
            engine.close()
        if as_json:
            typer.echo(report.model_dump_json())
        else:
            typer.echo(f"{report.papers_seen} papers seen: {report.papers_new} new, {report.papers_updated} updated, "
                       f"{report.papers_unchanged} unchanged; {report.chunks_written} chunks written; "
                       f"{papers} chunks in the index.")
            if report.vectors_added:
                typer.echo(f"{report.vectors_added} stored papers got their paper reader vector.")
            for error in report.errors:
                typer.echo(f"error: {error}", err=True)
        if report.errors:
            raise typer.Exit(1)

    _run(action)


@app.command()
def states(as_json: JsonOpt = False):
    """Save the embedded model's state of every paper's prompt now (`assistant serve` does it in the background)."""

    def action():
        engine = _engine()
        try:
            with _progress_bar(disable=as_json or not sys.stderr.isatty()) as progress:
                done = progress("reading papers", len(engine.index.paper_summaries()))
                report = engine.build_paper_states(done=done)
            folder = engine.settings.llm.states_dir
        finally:
            engine.close()
        if as_json:
            typer.echo(json.dumps({**dataclasses.asdict(report), "folder": str(folder)}))
        else:
            typer.echo(f"{report.built} paper states saved now, {report.present} saved before, {report.skipped} "
                       f"too long for the context; in {folder}")
        if report.stopped:
            _fail(report.stopped, 1)

    _run(action)


@app.command()
def search(query: str, k: KOpt = None, as_json: JsonOpt = False, since: SinceOpt = None, until: UntilOpt = None,
           has_code: CodeOpt = False, read_filters: ReadOpt = True):
    """Ranked papers for a query (hybrid retrieval, then rerank)."""

    def action():
        search_filter = _filter(since, until, has_code)
        engine = _engine(query, chat_model=None)
        try:
            hits = engine.search(query, k, search_filter, read_filters=read_filters)
        finally:
            engine.close()
        rows = [{"rank": i, "paper_id": h.paper_id, "title": h.title, "score": round(h.score, 6),
                 "snippet": h.snippet, "feeds": h.feeds} for i, h in enumerate(hits, 1)]
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            typer.echo(f"{row['rank']:>2}. {row['title']}  ({row['score']:.4f}; {', '.join(row['feeds'])})")

    _run(action)


@app.command()
def ask(question: str, as_json: JsonOpt = False, k: KOpt = None, since: SinceOpt = None, until: UntilOpt = None,
        has_code: CodeOpt = False, read_filters: ReadOpt = True,
        history: Annotated[Optional[Path], typer.Option(help="JSON file of prior turns [{role, content}].")] = None):
    """Answer a question from the abstracts, citing the papers used."""

    def action():
        from assistant.core.models import Delta, Final, Sentence, Sources

        turns, search_filter = _history(history), _filter(since, until, has_code)
        # With --json, stdout carries the one JSON object: anything a library prints goes to stderr instead.
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            engine = _engine(question)
            try:
                answer = None
                for event in engine.events(question, turns, k, search_filter, read_filters=read_filters):
                    if isinstance(event, Final):
                        answer = event.answer
                    elif as_json:
                        continue
                    elif isinstance(event, Sources):  # shown before the model starts: read while it writes
                        typer.echo(_sources_text(event) + "\n")
                    elif isinstance(event, Delta):
                        typer.echo(event.text, nl=False)
                    elif isinstance(event, Sentence) and not event.check.supported:  # said at once, not at the end
                        typer.echo(f" [removed: {event.check.reason}]", nl=False)
            finally:
                engine.close()
        if as_json:
            typer.echo(answer.model_dump_json(include={"answer", "citations", "abstained", "model", "timings_ms",
                                                      "query", "removed_citations", "generation_failed"}))
            return
        typer.echo("\n")
        if answer.unsupported_removed or answer.removed_citations:  # what streamed was not all kept
            typer.echo(f"Checked against the cited abstracts ({answer.unsupported_removed} sentence(s) and "
                       f"{answer.removed_citations} citation(s) removed):\n{answer.answer}\n")
        for c in answer.citations:
            extra = f" — code: {c.code_url}" if c.code_url else ""
            typer.echo(f"[{c.n}] {c.title} ({', '.join(c.feeds)}){extra}")

    _run(action)


@app.command("eval")
def eval_(dataset: Annotated[Path, typer.Option("--dataset", help="JSONL dataset (see evals/README.md).")],
          out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("eval-report"),
          as_json: JsonOpt = False,
          retrieval_only: Annotated[bool, typer.Option("--retrieval-only",
                                                       help="No LLM: ranking and abstention only.")] = False,
          model: Annotated[Optional[str], typer.Option(help="LiteLLM model to answer with ('mock-echo' cites the "
                                                         "top source through a LiteLLM mock).")] = None,
          judge: Annotated[Optional[str], typer.Option(help="LiteLLM model grading faithfulness.")] = None,
          ablate: Annotated[bool, typer.Option("--ablate",
                                               help="Also run dense, BM25, hybrid, hybrid+rerank.")] = False,
          limit: Annotated[Optional[int], typer.Option(help="At most N cases, drawn across types.", min=1)] = None,
          types: Annotated[Optional[str], typer.Option(help="Comma-separated case types to keep.")] = None,
          split: Annotated[str, typer.Option(help="Only the 'tune' or the 'heldout' cases, or 'all'.")] = "all",
          cold: Annotated[bool, typer.Option("--cold", help="Answer without the server's warm-up first (latency "
                                                           "then counts first-use embedding).")] = False,
          gate: Annotated[Optional[Path], typer.Option(help="JSON thresholds; exit 1 when one is missed.")] = None):
    """Score a dataset: retrieval, abstention, citations, facts, injection; writes report.json/.md and plots."""

    def action():
        from evals import EvalOptions, evaluate, metric_table

        options = EvalOptions(retrieval_only=retrieval_only, model=model, judge=judge, ablate=ablate, limit=limit,
                              types=tuple(t.strip() for t in (types or "").split(",") if t.strip()), split=split,
                              warm_up=not cold)
        with _progress_bar(disable=not sys.stderr.isatty()) as progress:
            outcome = evaluate(load_settings(), dataset, options, out, gate, progress)
        report, paths, failures = outcome.report, outcome.paths, outcome.gate_failures
        if as_json:
            typer.echo(json.dumps({"metrics": report.metrics, "latency_ms": report.latency_ms,
                                   "ablations": {k: v.metrics for k, v in report.ablations.items()},
                                   "report": [str(p) for p in paths], "gate_failures": failures}))
        else:
            typer.echo(metric_table(report.metrics))
            typer.echo(f"\nreport: {', '.join(str(p) for p in paths)}")
        for failure in failures:
            typer.echo(f"gate failed: {failure}", err=True)
        if failures:
            raise typer.Exit(1)

    _run(action)


@app.command()
def serve(port: Annotated[Optional[int], typer.Option(help="Port (default from settings: 8000).")] = None,
          host: Annotated[Optional[str], typer.Option(help="Interface (default 127.0.0.1).")] = None,
          no_web: Annotated[bool, typer.Option("--no-web", help="Serve only the HTTP API and Slack.")] = False):
    """Serve the web chat at /, the HTTP API at /v1 and the Slack endpoint, in one process owning the index."""

    def action():
        from assistant.surfaces.http.app import serve as run_server

        settings = load_settings()
        settings.server = settings.server.model_copy(update={k: v for k, v in {"port": port, "host": host}.items()
                                                             if v is not None})
        run_server(settings, web=not no_web)

    _run(action)


@app.command()
def slack(socket: Annotated[bool, typer.Option("--socket", help="Connect by Socket Mode (no public URL needed).")]
          = False):
    """Run the Slack bot on its own; HTTP mode lives inside `assistant serve` at /slack/events."""

    def action():
        from assistant.core.errors import ConfigError
        from assistant.surfaces.slack.bot import run_socket_mode

        if not socket:
            raise ConfigError("HTTP mode runs inside `assistant serve` (POST /slack/events); use --socket here")
        run_socket_mode(load_settings())

    _run(action)


@config_app.command("show")
def config_show():
    """Print the effective settings (secrets masked)."""
    _run(lambda: typer.echo(json.dumps(load_settings().masked(), indent=2, default=str)))


def _sources_text(sources) -> str:
    only = f" ({'; '.join(sources.filters)})" if sources.filters else ""
    lines = [f"Reading {len(sources.papers)} papers{only}:"]
    for paper in sources.papers:
        lines.append(f"[{paper.n}] {paper.title} ({', '.join(paper.feeds)})")
        if paper.snippet:
            lines.append(f"    {paper.snippet[:300]}")
    return "\n".join(lines)


def _history(path: Path | None):
    from pydantic import TypeAdapter, ValidationError

    from assistant.core.errors import ConfigError
    from assistant.core.models import Turn

    if path is None:
        return []
    try:
        return TypeAdapter(list[Turn]).validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"--history {path}: {str(exc).splitlines()[0]}") from exc


@contextmanager
def _progress_bar(disable: bool):
    """A Rich progress bar on stderr; yields a `progress(label, total)` that returns a per-item callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=disable, console=_stderr_console()) as bar:
        def start(label: str, total: int):
            task = bar.add_task(label, total=total)
            return lambda _item: bar.advance(task)

        yield start


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def main() -> None:
    app()
