"""`resfed` command line: every Snakemake rule calls one of these subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

import resfed
from resfed.config import ConfigError, load_config, run_spec
from resfed.run_errors import RunInterrupted


def _cmd_check_config(args: argparse.Namespace) -> None:
    """Every file checked; one error line per problem, each naming its file."""
    problems = []
    for path in args.configfiles:
        try:
            config = load_config(path)
        except ConfigError as error:
            problems.append(str(error))
            continue
        print(json.dumps(config, indent=2, sort_keys=True) if args.resolved else f"{path}: valid")
    if problems:
        raise ConfigError("\n".join(problems))


def _cmd_spec(args: argparse.Namespace) -> None:
    config = load_config(args.configfile)
    print(json.dumps(run_spec(config, args.dataset, args.partition, args.variant, args.seed), sort_keys=True))


def _cmd_prepare(args: argparse.Namespace) -> None:
    from resfed.data import prepare

    data = prepare(args.dataset, args.out, root=args.root)
    print(f"{args.dataset}: {len(data.y_train)} train / {len(data.y_test)} test from {data.source}")


def _cmd_check_data(args: argparse.Namespace) -> None:
    """All missing datasets in one message, before any job starts."""
    from resfed.data import DatasetMissing, locate_all

    found, missing = locate_all(args.datasets, root=args.root)
    for name, source in found.items():
        print(f"{name}: {source.description}")
    if missing:
        raise DatasetMissing(missing)


def _cmd_partition(args: argparse.Namespace) -> None:
    from resfed.data import partition_prepared

    result = partition_prepared(
        args.data, args.out, args.scheme, args.clients, args.seed, subsample=args.subsample
    )
    sizes = [len(c) for c in result.clients]
    print(f"{args.scheme}: {len(sizes)} clients, {min(sizes)}-{max(sizes)} samples each, hash {result.hash[:12]}")


def _cmd_train(args: argparse.Namespace) -> None:
    from resfed.run_inputs import load_spec

    spec = load_spec(args.spec)  # before torch is imported: a bad spec fails fast
    from resfed.run import run_training

    run_training(spec, args.data, args.partition, args.out, progress=not args.quiet, force=args.force,
                 tensorboard=args.tensorboard)


def _cmd_run(args: argparse.Namespace) -> None:
    from resfed.one_shot import run_one

    out = run_one(
        args.configfile, args.overrides, dataset=args.dataset, partition=args.partition, variant=args.variant,
        seed=args.seed, out=args.out, data_dir=args.data_dir, force=args.force, progress=not args.quiet,
        tensorboard=args.tensorboard,
    )
    print(f"results in {out}: rounds.csv (one row per round), run.json (spec, hashes, versions)")


def _load_runs(run_dirs: Sequence[str]):  # noqa: ANN202 - list[Run], imported lazily
    from resfed.report import load_run

    return [load_run(d) for d in run_dirs]


def _roles(args: argparse.Namespace) -> dict[str, str]:
    return {"baseline": args.baseline, "ul": args.ul, "dl": args.dl}


def _cmd_table1(args: argparse.Namespace) -> None:
    from resfed.report import build_table1, table1_markdown, write_table1

    table = build_table1(_load_runs(args.runs), _roles(args))
    write_table1(table, args.out)
    print(table1_markdown(table))


def _cmd_figure(args: argparse.Namespace) -> None:
    from resfed.report.figure_kinds import draw_figure

    draw_figure(args.kind, _load_runs(args.runs), args.out, at_round=args.at_round, budget_mb=args.budget_mb,
                labels=_labels(args))


def _labels(args: argparse.Namespace) -> dict[str, str]:
    return dict(label.split("=", 1) for label in args.label)


def _add_labels(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", action="append", default=[], metavar="VARIANT=TEXT",
                   help="display name of a variant (repeatable; default: the variant name)")


def _cmd_audit(args: argparse.Namespace) -> None:
    from resfed.report import audit, audit_markdown, write_audit

    table = audit(_load_runs(args.runs), _roles(args))
    write_audit(table, args.out)
    print(audit_markdown(table))


def _cmd_summary(args: argparse.Namespace) -> None:
    from resfed.report.summary import build_summary, summary_markdown, write_summary

    table = build_summary(_load_runs(args.runs), args.baseline, _labels(args))
    write_summary(table, args.out)
    print(summary_markdown(table))


def _add_roles(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", default="baseline", help="variant of the uncompressed baseline")
    parser.add_argument("--ul", default="resfed-ul", help="variant compressing the uplink only")
    parser.add_argument("--dl", default="resfed-dl", help="variant compressing the downlink only")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="replace a finished run (one with run.json) in --out")
    parser.add_argument("--quiet", action="store_true", help="no per-round progress (bar or log lines)")
    parser.add_argument("--tensorboard", metavar="DIR", default=None,
                        help="also log every round to TensorBoard in DIR (needs the 'tensorboard' extra)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resfed", description=__doc__)
    parser.add_argument("--version", action="version", version=f"resfed {resfed.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check-config", help="validate config files against the schema")
    p.add_argument("configfiles", nargs="+", metavar="CONFIGFILE", help="YAML configs (see config/README.md)")
    p.add_argument("--resolved", action="store_true", help="print the config with defaults filled in")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("spec", help="print the run spec of one (dataset, partition, variant, seed)")
    p.add_argument("--configfile", required=True, help="YAML config")
    p.add_argument("--dataset", required=True, help="a key of the config's 'datasets'")
    p.add_argument("--partition", required=True, help="iid, classes:K or dirichlet:ALPHA")
    p.add_argument("--variant", required=True, help="a key of the config's 'variants'")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.set_defaults(func=_cmd_spec)

    p = sub.add_parser("run", help="one variant and seed of a config end to end (prepare, partition, train)",
                       description="Prepare the dataset if needed, partition it and train one run into its own "
                       "directory; prints where the results went.")
    p.add_argument("configfile", help="YAML config")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config changes, nested keys joined by dots, values in YAML: train.lr=0.1 rounds=5 "
                   "variants.resfed-ul.ul.sparsity=0.995")
    p.add_argument("--dataset", default=None, help="a key of 'datasets' (default: the first)")
    p.add_argument("--partition", default=None,
                   help="iid, classes:K or dirichlet:ALPHA (default: the first of an experiment running "
                   "this dataset and variant, else iid)")
    p.add_argument("--variant", default=None, help="a key of 'variants' (default: the first)")
    p.add_argument("--seed", type=int, default=0, help="run seed, also the partition's (default 0)")
    p.add_argument("--out", default=None,
                   help="run directory (default: results/one-shot/<config>/<dataset>/<partition>/<variant>/"
                   "seed<S>-<spec hash>)")
    p.add_argument("--data-dir", default="results/data",
                   help="where prepared datasets are kept and reused (default: results/data)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("prepare", help="find, verify and convert a dataset's raw files to one .npz")
    p.add_argument("--dataset", required=True, help="mnist, fmnist, cifar10, cifar100 or svhn")
    p.add_argument("--root", default="data", help="data folder: raw files in ROOT/raw/<dataset>/")
    p.add_argument("--out", required=True, help="prepared .npz to write (its .json sidecar goes beside it)")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("check-data", help="check that the raw files of datasets can be found (lists all missing)")
    p.add_argument("--datasets", nargs="+", required=True, help="dataset names to look for")
    p.add_argument("--root", default="data", help="data folder: raw files in ROOT/raw/<dataset>/")
    p.set_defaults(func=_cmd_check_data)

    p = sub.add_parser("partition", help="split a prepared dataset among clients and write the partition file")
    p.add_argument("--data", required=True, help="prepared .npz")
    p.add_argument("--scheme", required=True, help="iid, classes-K or dirichlet-ALPHA")
    p.add_argument("--clients", type=int, required=True, help="number of clients")
    p.add_argument("--seed", type=int, required=True, help="seed of the split (and of the subsample)")
    p.add_argument("--subsample", type=int, default=None, help="use only this many training samples")
    p.add_argument("--out", required=True, help="partition .json to write")
    p.set_defaults(func=_cmd_partition)

    p = sub.add_parser("train", help="run one federated training run")
    p.add_argument("--spec", required=True, help="run spec as JSON text or a .json file (see `resfed spec`)")
    p.add_argument("--data", required=True, help="prepared .npz")
    p.add_argument("--partition", required=True, help="partition .json")
    p.add_argument("--out", required=True, help="run directory")
    _add_run_options(p)
    p.set_defaults(func=_cmd_train)

    for name, func, helptext in (
        ("table1", _cmd_table1, "Table 1: volume to target accuracy per client and direction"),
        ("audit", _cmd_audit, "per-seed audit of every Table 1 cell"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--runs", nargs="+", required=True, help="run directories")
        p.add_argument("--out", required=True, help="output prefix (writes .csv, .md, ...)")
        _add_roles(p)
        p.set_defaults(func=func)

    p = sub.add_parser("summary", help="per-method table: bytes, ratio vs a baseline, accuracy, volume to target, time")
    p.add_argument("--runs", nargs="+", required=True, help="run directories")
    p.add_argument("--baseline", required=True, help="variant the others are compared against")
    p.add_argument("--out", required=True, help="output prefix (writes .csv, .md and .html)")
    _add_labels(p)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("figure", help="accuracy vs round, vs cumulative volume, or vs sparsity (PNG + PDF)")
    p.add_argument("--kind", required=True,
                   help="accuracy-round, accuracy-volume, bytes-round, ... (resfed.report.figure_kinds)")
    p.add_argument("--at-round", type=int, default=None, help="sparsity figures: accuracy at this round")
    p.add_argument("--budget-mb", type=float, default=None, help="sparsity figures: accuracy within this budget")
    p.add_argument("--runs", nargs="+", required=True, help="run directories")
    _add_labels(p)
    p.add_argument("--out", required=True, help="output prefix (writes .png, .pdf and .html)")
    p.set_defaults(func=_cmd_figure)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        args.func(args)
    except RunInterrupted as stop:
        print(f"resfed {args.command}: {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"resfed {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if not _is_user_error(error):
            raise
        print(f"resfed {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


def _is_user_error(error: Exception) -> bool:
    """Errors whose message names the file or key and the fix: one line, no traceback."""
    from resfed.data.errors import DataError  # here: the data layer imports numpy

    return isinstance(error, (ConfigError, DataError, ValueError, FileNotFoundError, RuntimeError))


if __name__ == "__main__":
    raise SystemExit(main())
