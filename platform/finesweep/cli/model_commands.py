"""Commands on the registry's models: promote-best-model, rollback, predict, search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from finesweep.cli._app import MODELS, app, current_settings
from finesweep.cli.checks import check_constraints, check_device, check_names, checked_store, read_texts
from finesweep.cli.options import DEVICE_HELP, MODEL_HELP, TRACKING_HELP
from finesweep.cli.output import print_promotion, print_vectors
from finesweep.errors import FinesweepError
from finesweep.redact import printable_row


@app.command(name="promote-best-model", rich_help_panel=MODELS)
def promote_best_model_command(
    sweep: str = typer.Option(..., "--sweep", help="The sweep whose best completed trial is the challenger."),
    model_name: str = typer.Option(..., "--model-name", help="Registered model name in the MLflow registry."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Pick the challenger by this metric, in its own direction (default: the sweep's primary goal)."
    ),
    constraint: List[str] = typer.Option(
        [], "--constraint", help='Only trials meeting this, e.g. "latency_ms_per_text <= 15" (repeatable).'
    ),
    min_delta: Optional[float] = typer.Option(
        None, "--min-delta", help="Smallest test-metric gain that promotes (default: the job's promotion.min_delta, else 0)."
    ),
    require_significant: Optional[bool] = typer.Option(
        None,
        "--require-significant/--no-require-significant",
        help="Require paired-bootstrap p <= alpha over the test split (default: the job's promotion section).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Evaluate and print; register and move nothing."),
    force: bool = typer.Option(False, "--force", help="Promote even if the challenger does not win."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Register the sweep's best model; move the `champion` alias only if it beats the champion on the test split.

    Exits 3 when promotion is refused (the version stays registered, the aliases do not move).
    """
    check_names(("--sweep", sweep), ("--model-name", model_name))
    check_constraints(constraint)
    uri = checked_store(tracking_uri)
    from finesweep.errors import PromotionRefused
    from finesweep.promotion.registry import promote_best_model

    try:
        outcome = promote_best_model(uri, sweep, model_name, metric, min_delta, dry_run, force, require_significant,
                                     constraints=tuple(constraint))  # fmt: skip
    except PromotionRefused as refused:
        if refused.outcome is not None:
            print_promotion(refused.outcome)
        raise
    print_promotion(outcome)
    if dry_run:
        typer.echo(f"dry run: would promote ({outcome.reason}); nothing registered or moved")
    else:
        typer.echo(f"{model_name} v{outcome.challenger_version} is now @champion ({outcome.reason})")
        if outcome.champion_version and outcome.champion_version != outcome.challenger_version:
            typer.echo(f"{model_name} v{outcome.champion_version} is now @previous")


@app.command(rich_help_panel=MODELS)
def rollback(
    model_name: str = typer.Option(..., "--model-name", help="Registered model name."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Move `champion` back to the `previous` version (and `previous` to the rolled-back one)."""
    check_names(("--model-name", model_name))
    uri = checked_store(tracking_uri)
    from finesweep.promotion.registry import rollback as do_rollback

    champion, previous = do_rollback(uri, model_name)
    typer.echo(f"{model_name}: @champion -> v{champion}, @previous -> v{previous}")


def _load_served(model: str, device: str | None, batch_size: int, tracking_uri: str | None) -> Any:
    """The model behind ``--model``, after checking ``--device`` (registry URIs need the store)."""
    check_device(device)
    uri = checked_store(tracking_uri) if model.startswith(("models:/", "runs:/")) else tracking_uri
    from finesweep.serving.loading import load_model

    return load_model(model, device=device, batch_size=batch_size, tracking_uri=uri, settings=current_settings())


@app.command(rich_help_panel=MODELS)
def predict(
    texts: List[str] = typer.Argument(None, help="Texts to classify (or, with an encoder, to encode)."),
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    input_file: Optional[Path] = typer.Option(None, "--input", help="Read texts from a file (.txt lines or a `text` column)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: every class score, or the whole vector."),
    kind: str = typer.Option("query", "--kind", help="Encoders: encode the texts as `query` or `passage`."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Classify texts with a trained classifier, or encode them with a trained encoder (dense
    vectors, or a sparse encoder's heaviest terms), offline, in batches."""
    items = list(texts or []) + (read_texts(input_file) if input_file else [])
    if not items:
        raise FinesweepError("nothing to predict: give texts as arguments or --input FILE")
    if kind not in ("query", "passage"):
        raise FinesweepError(f"--kind: must be query or passage (got {kind!r})")
    served = _load_served(model, device, batch_size, tracking_uri)
    if hasattr(served, "encode"):
        print_vectors(served.describe(items, kind=kind), as_json)
        return
    for result in served.predict(items):
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            # multi-label models: every label at or above the tuned threshold, comma-joined
            label = ",".join(result["labels"]) if "labels" in result else result["label"]
            typer.echo(printable_row(f"{label}\t{result['confidence']:.3f}\t{result['text']}"))


@app.command(rich_help_panel=MODELS)
def search(
    queries: List[str] = typer.Argument(None, help="Queries to search for."),
    model: str = typer.Option(..., "--model", help=MODEL_HELP + " An encoder (contrastive or sparse)."),
    corpus: Path = typer.Option(..., "--corpus", help="Passages: .txt (one per line) or .csv/.tsv/.jsonl/.parquet."),
    top_k: int = typer.Option(10, "--top-k", min=1, max=10000, help="Passages to show per query."),
    text_column: str = typer.Option("text", "--text-column", help="The corpus file's passage column."),
    id_column: str = typer.Option("id", "--id-column", help="The corpus file's id column (else the row number)."),
    chunk_chars: Optional[int] = typer.Option(
        None, "--chunk-chars", help="Cut documents into passages of N characters: a .txt file is one document, a table's rows are."
    ),
    chunk_tokens: Optional[int] = typer.Option(None, "--chunk-tokens", help="As --chunk-chars, in tokens of the model's tokenizer."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Characters (or tokens) consecutive passages share (default 0)."),
    input_file: Optional[Path] = typer.Option(None, "--input", help="Read queries from a file (.txt lines or a `text` column)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per query with its ranked hits."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Rank a corpus for each query with a trained encoder (exact search; the corpus index is built
    once per model, corpus content and chunking, and cached). With --chunk-chars or --chunk-tokens,
    long documents are cut into overlapping passages, named <document>:<start>-<end> (characters)."""
    from finesweep.serving.chunking import check_passage_count, chunk_corpus, chunking_from_options, span_of
    from finesweep.serving.corpus import read_corpus

    items = list(queries or []) + (read_texts(input_file) if input_file else [])
    if not items:
        raise FinesweepError("nothing to search for: give queries as arguments or --input FILE")
    chunking = chunking_from_options(chunk_chars, chunk_tokens, overlap)
    # a bad corpus is refused before a model loads
    passages = read_corpus(corpus, text_column, id_column, documents=chunking is not None)
    if chunking is not None:
        check_passage_count(passages, chunking)
    served = _load_served(model, device, batch_size, tracking_uri)
    if not hasattr(served, "search"):
        raise FinesweepError(f"--model {model}: a text classifier; search needs an encoder (contrastive_embedding or sparse_encoder)")
    if chunking is not None:
        passages = chunk_corpus(passages, chunking, getattr(served, "tokenizer", None))
    for query, hits in zip(items, served.search(items, passages, top_k=top_k)):
        if as_json:
            found = [{"id": h.id, "score": round(h.score, 6), "text": h.text} for h in hits]
            if chunking is not None:
                for hit in found:
                    hit["document"], hit["start"], hit["end"] = span_of(hit["id"])
            typer.echo(json.dumps({"query": query, "hits": found}, ensure_ascii=False))
            continue
        typer.echo(printable_row(f"query: {query}"))
        for rank, hit in enumerate(hits, start=1):
            text = hit.text if len(hit.text) <= 100 else hit.text[:99] + "…"
            typer.echo(printable_row(f"{rank:>4}  {hit.id}\t{hit.score:.4f}\t{text}"))
