rule table1:
    input:
        table1_runs,
    output:
        csv=results("tables/table1.csv"),
        md=results("tables/table1.md"),
        html=report(results("tables/table1.html"), caption="../report/table1.rst", category="Table 1"),
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
        csv=results("tables/audit.csv"),
        md=results("tables/audit.md"),
        html=report(results("tables/audit.html"), caption="../report/audit.rst", category="Audit"),
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
        png=results("figures/{experiment}/{kind}.png"),
        pdf=results("figures/{experiment}/{kind}.pdf"),
        html=report(
            results("figures/{experiment}/{kind}.html"),
            caption="../report/figure.rst",
            category="Figures",
            labels={"experiment": "{experiment}", "figure": "{kind}"},
        ),
    log:
        results("logs/report/{experiment}/{kind}.log"),
    params:
        runs=experiment_run_dirs,
        prefix=subpath(output.png, strip_suffix=".png"),
        options=figure_options,
    wildcard_constraints:
        kind="|".join(FIGURE_KINDS),
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed figure --kind {wildcards.kind} --runs {params.runs} {params.options} --out {params.prefix} > {log} 2>&1"


rule summary:
    input:
        experiment_run_files,
    output:
        csv=results("tables/{experiment}-summary.csv"),
        md=results("tables/{experiment}-summary.md"),
        html=report(
            results("tables/{experiment}-summary.html"),
            caption="../report/summary.rst",
            category="Methods",
            labels={"experiment": "{experiment}"},
        ),
    log:
        results("logs/report/{experiment}/summary.log"),
    params:
        runs=experiment_run_dirs,
        baseline=summary_baseline,
        prefix=subpath(output.csv, strip_suffix=".csv"),
        labels=label_options,
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed summary --runs {params.runs} --baseline {params.baseline} {params.labels} --out {params.prefix} > {log} 2>&1"
