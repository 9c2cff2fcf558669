rule prepare:
    output:
        results("data/{dataset}.npz"),
    log:
        results("logs/prepare/{dataset}.log"),
    params:
        root=config["data_root"],
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed prepare --dataset {wildcards.dataset} --root {params.root} --out {output} > {log} 2>&1"


rule partition:
    input:
        results("data/{dataset}.npz"),
    output:
        results("partitions/{dataset}/{partition}/{split}/seed{seed}.json"),
    log:
        results("logs/partition/{dataset}/{partition}/{split}/seed{seed}.log"),
    params:
        split=partition_split,
    conda:
        "../envs/resfed.yaml"
    shell:
        "resfed partition --data {input} --scheme {wildcards.partition} {params.split}"
        " --seed {wildcards.seed} --out {output} > {log} 2>&1"
