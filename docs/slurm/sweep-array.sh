#!/usr/bin/env bash
#SBATCH --job-name=attnproof-sweep
#SBATCH --array=0-15                 # N = 16 shards: array indices 0..15
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=results/slurm-%A_%a.log
#SBATCH --requeue                    # a preempted shard is requeued and resumes
set -euo pipefail
SWEEP=${SWEEP:?set SWEEP=sweeps/<name>.yaml}
N=${SLURM_ARRAY_TASK_COUNT:-16}
I=${SLURM_ARRAY_TASK_ID:?run under sbatch --array}
NAME=$(basename "$SWEEP" .yaml)
mkdir -p results
exec ./target/release/attnproof sweep "$SWEEP" \
  --shard "$I/$N" --threads "${SLURM_CPUS_PER_TASK:-2}" \
  --out "results/$NAME.shard-$I-of-$N.jsonl"
