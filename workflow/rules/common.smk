# Validation, wildcard constraints and input functions. Logic lives in the resfed package.
import json
import os
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from resfed import layout
from resfed.config import SCHEMA_PATH, ConfigError, run_spec, workflow_config
from resfed.data.sources import locate_all, network_allowed
from resfed.partition_scheme import SLUG_PATTERN
from resfed.report.figure_kinds import FIGURE_KINDS

# Rules call the `resfed` CLI: find it next to the Python running Snakemake (a venv that is
# not activated); a `--use-conda` environment puts its own bin first when activated.
envvars:
    "PATH",


os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# resfed's own check first: it reads the config files as `resfed check-config` does (errors
# name the file, line and column; repeated keys, NaN and Inf are refused), types nested
# --config overrides, names the key and the allowed values, and checks cross-references
# (experiments naming undefined variants) that JSON schema cannot.
try:
    resolved_config = workflow_config(workflow.configfiles, workflow.config_settings.config)
except ConfigError as error:
    print(f"resfed: config error: {error}", file=sys.stderr)
    sys.exit(1)
config.clear()
config.update(resolved_config)
# Defaults are filled by workflow_config above (Snakemake's set_default cannot descend into
# nullable objects such as a direction whose codec is null).
# SCHEMA_PATH: the very file resfed validated with, also when resfed is installed elsewhere.
validate(config, schema=str(SCHEMA_PATH), set_default=False)
config["results"] = layout.results_root(config, workflow.overwrite_configfiles)


def results(path):
    """`path` under this config's results root (resfed/layout.py)."""
    return f"{config['results']}/{path}"



wildcard_constraints:
    dataset="|".join(config["datasets"]) or "NONE",
    variant="[A-Za-z0-9_.+-]+",
    method="[a-z0-9]+",
    partition=SLUG_PATTERN,
    seed="[0-9]+",
    run_key=layout.RUN_KEY_PATTERN,
    split=layout.SPLIT_KEY_PATTERN,


def experiment_runs(name):
    """run.json paths of every (dataset, partition, variant, seed) of an experiment."""
    experiment = config["experiments"][name]
    return [
        f"{layout.run_dir(config, d, p, v, s)}/run.json"
        for d in experiment["datasets"]
        for p in experiment["partitions"]
        for v in experiment["variants"]
        for s in experiment["seeds"]
    ]


def experiment_run_dirs(wildcards):
    return [os.path.dirname(path) for path in experiment_runs(wildcards.experiment)]


def table1_run_dirs(wildcards):
    return [os.path.dirname(path) for path in experiment_runs(config["table1"]["experiment"])]


def table1_runs(wildcards):
    return experiment_runs(config["table1"]["experiment"])


def experiment_run_files(wildcards):
    return experiment_runs(wildcards.experiment)


def run_partition(wildcards):
    return layout.partition_file(config, wildcards.dataset, wildcards.partition, int(wildcards.seed))


def partition_split(wildcards):
    """--clients and --subsample of this config, which the path's split key must name."""
    if wildcards.split != layout.split_key(config, wildcards.dataset):
        raise ValueError(
            f"partition key {wildcards.split} is not this config's {layout.split_key(config, wildcards.dataset)}"
        )
    subsample = config["datasets"][wildcards.dataset]["subsample"]
    return f"--clients {config['clients']}" + (f" --subsample {subsample}" if subsample else "")


def train_spec(wildcards):
    """The run spec as JSON; a change to it reruns the job (Snakemake tracks params)."""
    spec = run_spec(config, wildcards.dataset, wildcards.partition, wildcards.variant, int(wildcards.seed))
    if spec["method"] != wildcards.method:
        raise ValueError(
            f"variant {wildcards.variant!r} uses method {spec['method']!r}, not {wildcards.method!r}"
        )
    if layout.run_key(spec) != wildcards.run_key:
        raise ValueError(
            f"run key {wildcards.run_key} is not that of variant {wildcards.variant!r} in this config "
            f"({layout.run_key(spec)}): a run directory holds one spec only"
        )
    return json.dumps(spec, sort_keys=True)


def get_final_output():
    outputs = []
    if config["table1"]:
        outputs += expand(results("tables/table1.{ext}"), ext=("csv", "md", "tex"))
        outputs += expand(results("tables/audit.{ext}"), ext=("csv", "md"))
    for name, experiment in config["experiments"].items():
        outputs += expand(results("figures/{experiment}/{kind}.png"), experiment=name, kind=experiment["figures"])
        if experiment["summary_baseline"]:
            outputs += expand(results("tables/{experiment}-summary.{ext}"), experiment=name, ext=("csv", "md"))
    return outputs


def table1_roles(wildcards):
    return "--baseline {baseline} --ul {ul} --dl {dl}".format(**config["table1"])


def datasets_to_prepare():
    """Datasets used by some experiment whose prepared .npz does not exist yet."""
    used = {d for experiment in config["experiments"].values() for d in experiment["datasets"]}
    return sorted(d for d in used if not os.path.exists(results(f"data/{d}.npz")))


# Missing raw data is said while the DAG is planned, so a dry run lists it too (without the
# network: a dry run downloads nothing). Jobs re-parse this file on a cluster: check once.
MISSING_DATA = (
    locate_all(datasets_to_prepare(), config["data_root"], network=False)[1] if workflow.is_main_process else ""
)
if MISSING_DATA:
    print(
        f"WARNING: {MISSING_DATA}\n\nA run first tries the network (apt-get for Fashion-MNIST, the original "
        "URLs) and stops before any job if that fails too.\n",
        file=sys.stderr,
    )


onstart:
    if MISSING_DATA and not network_allowed(None):
        raise WorkflowError("stopped before any job: dataset(s) missing, listed above (network off: RESFED_OFFLINE)")
    if MISSING_DATA:
        shell(f"resfed check-data --root {config['data_root']} --datasets {' '.join(datasets_to_prepare())}")


def label_options(wildcards):
    """--label VARIANT=TEXT for every variant of the experiment that has a label."""
    experiment = config["experiments"][wildcards.experiment]
    return shlex.join(
        option
        for name, variant in config["variants"].items()
        if name in experiment["variants"] and "label" in variant
        for option in ("--label", f"{name}={variant['label']}")
    )


def figure_options(wildcards):
    """--at-round / --budget-mb of the sparsity figures, and every variant's legend label."""
    experiment = config["experiments"][wildcards.experiment]
    options = [f"--{key.replace('_', '-')} {experiment[key]}" for key in ("at_round", "budget_mb") if experiment[key]]
    return " ".join([*options, label_options(wildcards)])


def summary_baseline(wildcards):
    return config["experiments"][wildcards.experiment]["summary_baseline"]
