rule train:
    input:
        data=results("data/{dataset}.npz"),
        partition=run_partition,
    output:
        run=results("runs/{dataset}/{partition}/{method}/{variant}/{run_key}/seed{seed}/run.json"),
        rounds=results("runs/{dataset}/{partition}/{method}/{variant}/{run_key}/seed{seed}/rounds.csv"),
    log:
        results("logs/train/{dataset}/{partition}/{method}/{variant}/{run_key}/seed{seed}.log"),
    params:
        spec=train_spec,
        out=subpath(output.run, parent=True),
    threads: config["threads"]
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed train --spec {params.spec:q} --data {input.data} --partition {input.partition}"
        " --out {params.out} 2> {log}"
