rule prepare:
    output:
        "results/data/{dataset}.npz",
    log:
        "results/logs/prepare/{dataset}.log",
    params:
        root=config["data_root"],
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed prepare --dataset {wildcards.dataset} --root {params.root} --out {output} > {log} 2>&1"


rule partition:
    input:
        "results/data/{dataset}.npz",
    output:
        "results/partitions/{dataset}/{partition}/seed{seed}.json",
    log:
        "results/logs/partition/{dataset}/{partition}/seed{seed}.log",
    params:
        clients=config["clients"],
        subsample=partition_subsample,
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed partition --data {input} --scheme {wildcards.partition} --clients {params.clients}"
        " --seed {wildcards.seed} {params.subsample} --out {output} > {log} 2>&1"
