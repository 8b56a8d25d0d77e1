"""Read mapping and variant calling with bwa, samtools and bcftools, on data it makes itself.

The Snakemake tutorial's pipeline, as reflow tasks that call the programs
through ``reflow.shell``: a random reference genome, two samples whose
genomes carry a few known SNPs, simulated reads, then

    bwa index -> (per sample) bwa mem | samtools sort -> bcftools mpileup | bcftools call

Needs ``bwa``, ``samtools`` and ``bcftools`` on the PATH (Debian:
``apt-get install bwa samtools bcftools``).  Run it with::

    python examples/variants/variants.py run --run-dir /tmp/variants        # here
    python examples/variants/variants.py submit --run-dir /scratch/variants  # as jobs
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

from reflow import Param, Resources, Result, RunDir, Workflow, shell

wf = Workflow("variants")

BASES = "ACGT"


def _mutate(base: str, rng: random.Random) -> str:
    return rng.choice([b for b in BASES if b != base])


@wf.job(time="00:05:00", mem="1G")
def make_data(
    samples: Annotated[int, Param(help="How many samples to simulate")] = 2,
    length: Annotated[int, Param(help="Length of the reference genome")] = 20000,
    seed: Annotated[int, Param(help="Seed of the random genome and reads")] = 1,
    run_dir: RunDir = RunDir(),
) -> list[str]:
    """Write ``ref.fa`` and one FASTQ of 100 bp reads (about 30x) per sample; return the FASTQs."""
    rng = random.Random(seed)  # noqa: S311 - simulated data, not secrets
    data = run_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    reference = "".join(rng.choice(BASES) for _ in range(length))
    lines = [reference[i : i + 60] for i in range(0, length, 60)]
    (data / "ref.fa").write_text(">chr1\n" + "\n".join(lines) + "\n")
    snps = sorted(rng.sample(range(200, length - 200), 10))
    (data / "truth.txt").write_text("".join(f"chr1\t{p + 1}\n" for p in snps))
    reads = []
    for number in range(samples):
        genome = list(reference)
        for position in snps:  # homozygous in every sample: bcftools must call each
            genome[position] = _mutate(reference[position], random.Random(position))  # noqa: S311
        text = "".join(genome)
        fastq = data / f"sample{number}.fq"
        with fastq.open("w") as out:
            for k in range(length * 30 // 100):
                start = rng.randrange(0, length - 100)
                out.write(f"@s{number}_{k}\n{text[start : start + 100]}\n+\n{'I' * 100}\n")
        reads.append(str(fastq))
    return reads


@wf.job(time="00:05:00", mem="1G")
def index(
    reads: Annotated[list[str], Result(step="make_data")], run_dir: RunDir = RunDir()
) -> str:
    """Index the reference for bwa and samtools."""
    ref = run_dir / "data" / "ref.fa"
    shell("bwa index {ref} 2>&1 && samtools faidx {ref}", ref=ref)
    return str(ref)


@wf.job(array=True, cpus=2, time="00:10:00", mem="2G")
def align(
    fastq: Annotated[str, Result(step="make_data")],
    ref: Annotated[str, Result(step="index", broadcast=True)],
    res: Resources = Resources(),  # noqa: B008 - the marker's default, as RunDir()
) -> str:
    """Map one sample's reads and sort them: ``bwa mem | samtools sort`` in one pipe."""
    bam = Path(fastq).with_suffix(".bam")
    shell(
        "bwa mem -t {cpus} -R {group} {ref} {fastq} | samtools sort -@ {cpus} -o {bam} -",
        cpus=res.cpus,
        group=f"@RG\\tID:{bam.stem}\\tSM:{bam.stem}",
        ref=ref,
        fastq=fastq,
        bam=bam,
    )
    shell("samtools index {bam}", bam=bam)
    return str(bam)


@wf.job(time="00:10:00", mem="2G")
def call(
    bams: Annotated[list[str], Result(step="align")],
    ref: Annotated[str, Result(step="index")],
) -> dict[str, object]:
    """Call variants over every sample: ``bcftools mpileup | bcftools call``; count them."""
    vcf = Path(ref).parent / "calls.vcf.gz"
    shell(
        "bcftools mpileup -Ou -f {ref} {bams} | bcftools call -mv -Oz -o {vcf}",
        ref=ref,
        bams=bams,
        vcf=vcf,
    )
    found = shell("bcftools view -H {vcf} | cut -f 1,2", vcf=vcf, capture=True).stdout
    truth = (Path(ref).parent / "truth.txt").read_text()
    return {
        "vcf": str(vcf),
        "called": len(found.splitlines()),
        "true_snps_called": len(set(found.splitlines()) & set(truth.splitlines())),
    }


if __name__ == "__main__":
    raise SystemExit(wf.cli())
