rule table1:
    input:
        table1_runs,
    output:
        csv=report(results("tables/table1.csv"), caption="../report/table1.rst", category="Table 1"),
        md=results("tables/table1.md"),
        tex=results("tables/table1.tex"),
    log:
        results("logs/report/table1.log"),
    params:
        runs=table1_run_dirs,
        roles=table1_roles,
        prefix=subpath(output.csv, strip_suffix=".csv"),
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed table1 --runs {params.runs} {params.roles} --out {params.prefix} > {log} 2>&1"


rule audit:
    input:
        table1_runs,
    output:
        csv=report(results("tables/audit.csv"), caption="../report/audit.rst", category="Audit"),
        md=results("tables/audit.md"),
    log:
        results("logs/report/audit.log"),
    params:
        runs=table1_run_dirs,
        roles=table1_roles,
        prefix=subpath(output.csv, strip_suffix=".csv"),
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed audit --runs {params.runs} {params.roles} --out {params.prefix} > {log} 2>&1"


rule figure:
    input:
        experiment_run_files,
    output:
        png=report(
            results("figures/{experiment}/{kind}.png"),
            caption="../report/figure.rst",
            category="Figures",
            labels={"experiment": "{experiment}", "figure": "{kind}"},
        ),
        pdf=results("figures/{experiment}/{kind}.pdf"),
    log:
        results("logs/report/{experiment}/{kind}.log"),
    params:
        runs=experiment_run_dirs,
        prefix=subpath(output.png, strip_suffix=".png"),
        options=figure_options,
    wildcard_constraints:
        kind="accuracy-round|accuracy-volume|sparsity-ul|sparsity-dl|value-distributions",
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed figure --kind {wildcards.kind} --runs {params.runs} {params.options} --out {params.prefix} > {log} 2>&1"


rule summary:
    input:
        experiment_run_files,
    output:
        csv=report(results("tables/{experiment}-summary.csv"), caption="../report/summary.rst", category="Methods"),
        md=results("tables/{experiment}-summary.md"),
    log:
        results("logs/report/{experiment}/summary.log"),
    params:
        runs=experiment_run_dirs,
        baseline=summary_baseline,
        prefix=subpath(output.csv, strip_suffix=".csv"),
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed summary --runs {params.runs} --baseline {params.baseline} --out {params.prefix} > {log} 2>&1"
