# resfed: ResFed and its peers, end to end. A table of contents; the rules live in workflow/rules.
from snakemake.utils import min_version

min_version("8.26")  # subpath(), used by the train rule


# The embedded default. A --configfile given on the command line replaces it whole
# (Snakemake would otherwise merge the two, mixing the default grid into e.g. the paper's).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        get_final_output(),
    default_target: True
